//! One NVIDIA GPU as an [`Executor`], through `cudarc` with the CUDA libraries loaded at run
//! time: a context, a compute stream with its cuBLAS handle (a fixed workspace, so products
//! can be recorded into graphs), a copy stream for downloads that overlap the compute, and the
//! kernels of `kernels.cu` compiled by NVRTC for the device's architecture. Before the first
//! CUDA call it checks that the driver, NVRTC and cuBLAS libraries can be loaded (cudarc
//! panics on a missing library), so a machine without CUDA gets one clear error.

use std::ffi::c_void;
use std::sync::Arc;

use cudarc::cublas::sys::{cublasComputeType_t, cublasGemmAlgo_t, cublasOperation_t, cudaDataType};
use cudarc::cublas::CudaBlas;
use cudarc::driver::sys::CUstreamCaptureMode;
use cudarc::driver::{
    CudaContext, CudaEvent, CudaFunction, CudaGraph, CudaSlice, CudaStream, DevicePtr,
    PinnedHostSlice,
};

use super::error::GpuError;
use super::executor::Executor;
use super::plan::{Arg, BufferId, Compute, Dtype, Gemm, Kernel, Launch, Op, View, BLOCK};

/// The kernels' source, compiled on every device at start.
pub const KERNEL_SOURCE: &str = include_str!("kernels.cu");

/// cuBLAS workspace: enough for its largest split products; fixed, so that recorded graphs
/// never allocate.
const BLAS_WORKSPACE: usize = 32 << 20;

struct Buffer {
    memory: CudaSlice<u8>,
    dtype: Dtype,
    pointer: u64,
}

/// A download slot: pinned host memory, the event the compute stream records when the bytes
/// are made, and the one the copy stream records when they have arrived.
struct Staging {
    host: PinnedHostSlice<u8>,
    len: usize,
    made: CudaEvent,
    done: CudaEvent,
}

/// A GPU ready to run plans.
pub struct CudaDevice {
    label: String,
    context: Arc<CudaContext>,
    stream: Arc<CudaStream>,
    copies: Arc<CudaStream>,
    blas: CudaBlas,
    _workspace: CudaSlice<u8>,
    functions: Vec<CudaFunction>,
    buffers: Vec<Option<Buffer>>,
    staging: Vec<Option<Staging>>,
}

// SAFETY: a device is used by one thread at a time (each generation worker owns its own); the
// CUDA objects inside are context-bound handles that may move between threads.
unsafe impl Send for CudaDevice {}

/// How a failed driver call on `device` is reported.
fn driver_failure<'a>(
    device: &'a str,
    call: &'static str,
) -> impl FnOnce(cudarc::driver::DriverError) -> GpuError + 'a {
    move |error| GpuError::Driver {
        device: device.to_string(),
        call,
        message: error.to_string(),
    }
}

/// Whether the CUDA libraries host-tools needs can be loaded, naming the first that cannot.
pub fn check_libraries(device: &str) -> Result<(), GpuError> {
    let missing = |library, purpose| GpuError::MissingLibrary {
        device: device.to_string(),
        library,
        purpose,
    };
    // SAFETY: these only try to open the shared libraries.
    if !unsafe { cudarc::driver::sys::is_culib_present() } {
        return Err(missing("libcuda.so", "the NVIDIA driver"));
    }
    if !unsafe { cudarc::nvrtc::sys::is_culib_present() } {
        return Err(missing(
            "libnvrtc.so",
            "CUDA's run-time compiler, for the kernels",
        ));
    }
    if !unsafe { cudarc::cublas::sys::is_culib_present() } {
        return Err(missing("libcublas.so", "CUDA's matrix products"));
    }
    Ok(())
}

/// CUDA devices on this machine (0 without a driver).
pub fn device_count() -> usize {
    if check_libraries("cuda").is_err() {
        return 0;
    }
    CudaContext::device_count().map_or(0, |count| count.max(0) as usize)
}

impl CudaDevice {
    /// Opens GPU `ordinal` and compiles the kernels for it.
    pub fn open(ordinal: usize) -> Result<Self, GpuError> {
        let label = format!("cuda:{ordinal}");
        check_libraries(&label)?;
        let count =
            CudaContext::device_count().map_err(driver_failure(&label, "counting devices"))?;
        if ordinal >= count.max(0) as usize {
            return Err(GpuError::NoSuchDevice {
                device: label,
                count: count.max(0) as usize,
            });
        }
        let context =
            CudaContext::new(ordinal).map_err(driver_failure(&label, "creating a context"))?;
        // Ordering is this executor's job: the compute stream is in order, and downloads wait
        // for events it records.
        unsafe { context.disable_event_tracking() };
        let name = context
            .name()
            .map_err(driver_failure(&label, "reading the device name"))?;
        let label = format!("{label} ({name})");
        let (major, minor) = context
            .compute_capability()
            .map_err(driver_failure(&label, "reading the compute capability"))?;
        let stream = context
            .new_stream()
            .map_err(driver_failure(&label, "creating a stream"))?;
        let copies = context
            .new_stream()
            .map_err(driver_failure(&label, "creating a stream"))?;

        let options = cudarc::nvrtc::CompileOptions {
            options: vec![format!("--gpu-architecture=compute_{major}{minor}")],
            name: Some("kernels.cu".into()),
            ..Default::default()
        };
        let ptx =
            cudarc::nvrtc::compile_ptx_with_opts(KERNEL_SOURCE, options).map_err(|error| {
                GpuError::Compile {
                    device: label.clone(),
                    log: error.to_string(),
                }
            })?;
        let module = context
            .load_module(ptx)
            .map_err(driver_failure(&label, "loading the kernels"))?;
        let functions = Kernel::ALL
            .iter()
            .map(|kernel| module.load_function(kernel.name()))
            .collect::<Result<Vec<_>, _>>()
            .map_err(driver_failure(&label, "finding a kernel"))?;

        let blas_error = |call: &'static str| {
            let label = label.clone();
            move |error: cudarc::cublas::result::CublasError| GpuError::Blas {
                device: label,
                call,
                message: error.to_string(),
            }
        };
        let blas = CudaBlas::new(stream.clone()).map_err(blas_error("creating a handle"))?;
        let workspace = stream
            .alloc_zeros::<u8>(BLAS_WORKSPACE)
            .map_err(driver_failure(&label, "allocating the cuBLAS workspace"))?;
        let (workspace_pointer, _) = workspace.device_ptr(&stream);
        // SAFETY: the workspace lives as long as the handle (both fields of this device).
        unsafe {
            cudarc::cublas::sys::cublasSetWorkspace_v2(
                *blas.handle(),
                workspace_pointer as *mut c_void,
                BLAS_WORKSPACE,
            )
            .result()
        }
        .map_err(blas_error("setting the workspace"))?;
        Ok(Self {
            label,
            context,
            stream,
            copies,
            blas,
            _workspace: workspace,
            functions,
            buffers: Vec::new(),
            staging: Vec::new(),
        })
    }

    /// `cuda:N (device name)`.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Free and total device memory in bytes.
    pub fn memory(&self) -> Result<(usize, usize), GpuError> {
        self.context
            .mem_get_info()
            .map_err(driver_failure(&self.label, "reading memory use"))
    }

    /// Waits for everything queued.
    pub fn synchronize(&self) -> Result<(), GpuError> {
        self.bind()?;
        self.stream
            .synchronize()
            .map_err(driver_failure(&self.label, "synchronizing"))
    }

    /// A timing event recorded on the compute stream now.
    pub fn mark(&self) -> Result<CudaEvent, GpuError> {
        let event = self
            .context
            .new_event(Some(cudarc::driver::sys::CUevent_flags::CU_EVENT_DEFAULT))
            .map_err(driver_failure(&self.label, "creating an event"))?;
        event
            .record(&self.stream)
            .map_err(driver_failure(&self.label, "recording an event"))?;
        Ok(event)
    }

    /// Makes the device's context current on the calling thread: the raw driver and cuBLAS
    /// calls below need it, and a worker may move between threads.
    fn bind(&self) -> Result<(), GpuError> {
        self.context
            .bind_to_thread()
            .map_err(driver_failure(&self.label, "binding the context"))
    }

    fn buffer(&self, id: BufferId) -> &Buffer {
        self.buffers[id.0].as_ref().expect("buffer used after free")
    }

    fn address(&self, view: View) -> u64 {
        let buffer = self.buffer(view.buffer);
        buffer.pointer + (view.offset * buffer.dtype.size()) as u64
    }

    fn launch(&self, launch: &Launch) -> Result<(), GpuError> {
        let mut values: Vec<u64> = launch
            .args
            .iter()
            .map(|arg| match *arg {
                Arg::Buffer(view) => self.address(view),
                Arg::Null => 0,
                Arg::U32(value) => u64::from(value),
                Arg::I32(value) => u64::from(value as u32),
            })
            .collect();
        // Each parameter points at its value; a u32 or i32 is the low half of its
        // (little-endian) word.
        let mut params: Vec<*mut c_void> = values
            .iter_mut()
            .map(|value| (value as *mut u64).cast())
            .collect();
        let blocks = launch.threads.div_ceil(BLOCK as usize) as u32;
        let function = &self.functions[launch.kernel as usize];
        // SAFETY: the plans pass each kernel's parameters in order, with buffers sized for
        // them; `values` outlives the call, which copies the parameters.
        unsafe {
            cudarc::driver::result::launch_kernel(
                function.cu_function(),
                (blocks.max(1), 1, 1),
                (BLOCK, 1, 1),
                0,
                self.stream.cu_stream(),
                &mut params,
            )
        }
        .map_err(driver_failure(&self.label, "launching a kernel"))
    }

    fn gemm(&self, gemm: &Gemm) -> Result<(), GpuError> {
        let operation = |transpose| match transpose {
            true => cublasOperation_t::CUBLAS_OP_T,
            false => cublasOperation_t::CUBLAS_OP_N,
        };
        let input_type = match self.buffer(gemm.a.buffer).dtype {
            Dtype::Bf16 => cudaDataType::CUDA_R_16BF,
            _ => cudaDataType::CUDA_R_32F,
        };
        let compute = match gemm.compute {
            Compute::F32 => cublasComputeType_t::CUBLAS_COMPUTE_32F,
            Compute::Tf32 => cublasComputeType_t::CUBLAS_COMPUTE_32F_FAST_TF32,
        };
        let alpha = 1.0f32;
        let beta = if gemm.accumulate { 1.0f32 } else { 0.0 };
        let dimension = |value: usize| value as i32;
        // SAFETY: the views lie inside their buffers with the strides the plan sized them for;
        // alpha and beta are read before the call returns (host pointer mode).
        unsafe {
            cudarc::cublas::result::gemm_ex(
                *self.blas.handle(),
                operation(gemm.transpose_a),
                operation(gemm.transpose_b),
                dimension(gemm.m),
                dimension(gemm.n),
                dimension(gemm.k),
                (&alpha as *const f32).cast(),
                self.address(gemm.a) as *const c_void,
                input_type,
                dimension(gemm.lda),
                self.address(gemm.b) as *const c_void,
                input_type,
                dimension(gemm.ldb),
                (&beta as *const f32).cast(),
                self.address(gemm.c) as *mut c_void,
                cudaDataType::CUDA_R_32F,
                dimension(gemm.ldc),
                compute,
                cublasGemmAlgo_t::CUBLAS_GEMM_DEFAULT,
            )
        }
        .map_err(|error| GpuError::Blas {
            device: self.label.clone(),
            call: "GemmEx",
            message: error.to_string(),
        })
    }
}

impl Executor for CudaDevice {
    type Graph = CudaGraph;

    fn alloc(&mut self, dtype: Dtype, len: usize) -> Result<BufferId, GpuError> {
        self.bind()?;
        let bytes = (len * dtype.size()).max(1);
        let memory = self
            .stream
            .alloc_zeros::<u8>(bytes)
            .map_err(driver_failure(&self.label, "allocating device memory"))?;
        let (pointer, _) = memory.device_ptr(&self.stream);
        self.buffers.push(Some(Buffer {
            memory,
            dtype,
            pointer,
        }));
        Ok(BufferId(self.buffers.len() - 1))
    }

    fn free(&mut self, buffer: BufferId) -> Result<(), GpuError> {
        self.synchronize()?;
        self.buffers[buffer.0] = None;
        Ok(())
    }

    fn upload(&mut self, buffer: BufferId, bytes: &[u8]) -> Result<(), GpuError> {
        self.bind()?;
        self.synchronize()?;
        let target = self.buffer(buffer);
        assert!(
            bytes.len() <= target.memory.len(),
            "upload beyond its buffer"
        );
        // SAFETY: the buffer holds at least `bytes.len()` bytes; the copy is synchronous.
        unsafe { cudarc::driver::result::memcpy_htod_sync(target.pointer, bytes) }
            .map_err(driver_failure(&self.label, "copying to the device"))
    }

    fn zero(&mut self, buffer: BufferId) -> Result<(), GpuError> {
        self.bind()?;
        let target = self.buffer(buffer);
        // SAFETY: the whole buffer, on the compute stream.
        unsafe {
            cudarc::driver::result::memset_d8_async(
                target.pointer,
                0,
                target.memory.len(),
                self.stream.cu_stream(),
            )
        }
        .map_err(driver_failure(&self.label, "zeroing device memory"))
    }

    fn run(&mut self, ops: &[Op]) -> Result<(), GpuError> {
        self.bind()?;
        for op in ops {
            match op {
                Op::Launch(launch) => self.launch(launch)?,
                Op::Gemm(gemm) => self.gemm(gemm)?,
            }
        }
        Ok(())
    }

    fn record(&mut self, ops: &[Op]) -> Result<CudaGraph, GpuError> {
        self.bind()?;
        self.stream
            .begin_capture(CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL)
            .map_err(driver_failure(&self.label, "starting a graph capture"))?;
        let queued = self.run(ops);
        let graph = self
            .stream
            .end_capture(cudarc::driver::sys::CUgraphInstantiate_flags(0))
            .map_err(driver_failure(&self.label, "ending a graph capture"));
        queued?;
        let graph = graph?.ok_or_else(|| GpuError::Driver {
            device: self.label.clone(),
            call: "capturing a graph",
            message: "the capture recorded nothing".into(),
        })?;
        graph
            .upload()
            .map_err(driver_failure(&self.label, "uploading a graph"))?;
        Ok(graph)
    }

    fn replay(&mut self, graph: &CudaGraph) -> Result<(), GpuError> {
        self.bind()?;
        graph
            .launch()
            .map_err(driver_failure(&self.label, "launching a graph"))
    }

    fn start_download(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
        slot: usize,
    ) -> Result<(), GpuError> {
        self.bind()?;
        if self.staging.len() <= slot {
            self.staging.resize_with(slot + 1, || None);
        }
        let fits = self.staging[slot]
            .as_ref()
            .is_some_and(|s| s.host.len() >= len);
        if !fits {
            // SAFETY: the memory is written by the copy below before it is read.
            let host = unsafe { self.context.alloc_pinned_with_flags::<u8>(len.max(1), 0) }
                .map_err(driver_failure(&self.label, "allocating pinned host memory"))?;
            let event = || {
                self.context
                    .new_event(None)
                    .map_err(driver_failure(&self.label, "creating an event"))
            };
            let (made, done) = (event()?, event()?);
            self.staging[slot] = Some(Staging {
                host,
                len,
                made,
                done,
            });
        }
        let source = self.buffer(buffer).pointer + offset as u64;
        let staging = self.staging[slot].as_mut().expect("staging made above");
        staging
            .made
            .record(&self.stream)
            .map_err(driver_failure(&self.label, "recording an event"))?;
        self.copies
            .wait(&staging.made)
            .map_err(driver_failure(&self.label, "ordering a copy"))?;
        staging.len = len;
        let host = staging
            .host
            .as_mut_slice()
            .map_err(driver_failure(&self.label, "waiting for a copy"))?;
        // SAFETY: `host` is pinned and holds `len` bytes; it is read only after `done`.
        unsafe {
            cudarc::driver::result::memcpy_dtoh_async(
                &mut host[..len],
                source,
                self.copies.cu_stream(),
            )
        }
        .map_err(driver_failure(&self.label, "copying to the host"))?;
        staging
            .done
            .record(&self.copies)
            .map_err(driver_failure(&self.label, "recording an event"))
    }

    fn finish_download(&mut self, slot: usize) -> Result<&[u8], GpuError> {
        self.bind()?;
        let staging = self.staging[slot].as_ref().expect("a download was started");
        staging
            .done
            .synchronize()
            .map_err(driver_failure(&self.label, "waiting for a copy"))?;
        let host = staging
            .host
            .as_slice()
            .map_err(driver_failure(&self.label, "reading a copy"))?;
        Ok(&host[..staging.len])
    }

    fn download(
        &mut self,
        buffer: BufferId,
        offset: usize,
        len: usize,
    ) -> Result<Vec<u8>, GpuError> {
        self.synchronize()?;
        let mut bytes = vec![0u8; len];
        let source = self.buffer(buffer).pointer + offset as u64;
        // SAFETY: `bytes` holds `len` bytes; the copy is synchronous.
        unsafe { cudarc::driver::result::memcpy_dtoh_sync(&mut bytes, source) }
            .map_err(driver_failure(&self.label, "copying to the host"))?;
        Ok(bytes)
    }
}
