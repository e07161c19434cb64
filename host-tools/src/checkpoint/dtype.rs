//! Element types of stored tensors: their TensorFlow and safetensors codes, sizes, names, and the
//! widening of their little-endian bytes to `f32`. It never touches files.

use std::fmt;

/// The element type of a stored tensor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DType {
    F32,
    F64,
    F16,
    BF16,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
    /// A type the file format knows but these readers cannot convert (strings, complex numbers,
    /// 8-bit floats, resource handles), named as the file names it.
    Unsupported(String),
}

/// How one element type is written in each format.
struct Codes {
    tensorflow: i32,
    safetensors: safetensors::Dtype,
    size: usize,
    name: &'static str,
}

const CONVERTIBLE: [DType; 13] = [
    DType::F32,
    DType::F64,
    DType::F16,
    DType::BF16,
    DType::I8,
    DType::I16,
    DType::I32,
    DType::I64,
    DType::U8,
    DType::U16,
    DType::U32,
    DType::U64,
    DType::Bool,
];

/// TensorFlow `DataType` names of the codes that have no conversion, for error messages.
const TENSORFLOW_ONLY: [(i32, &str); 11] = [
    (0, "DT_INVALID"),
    (7, "DT_STRING"),
    (8, "DT_COMPLEX64"),
    (11, "DT_QINT8"),
    (12, "DT_QUINT8"),
    (13, "DT_QINT32"),
    (15, "DT_QINT16"),
    (16, "DT_QUINT16"),
    (18, "DT_COMPLEX128"),
    (20, "DT_RESOURCE"),
    (21, "DT_VARIANT"),
];

impl DType {
    /// The type's codes, or for an unsupported type its name.
    fn codes(&self) -> Result<Codes, &str> {
        use safetensors::Dtype as S;
        let (tensorflow, safetensors, size, name) = match self {
            DType::F32 => (1, S::F32, 4, "float32"),
            DType::F64 => (2, S::F64, 8, "float64"),
            DType::I32 => (3, S::I32, 4, "int32"),
            DType::U8 => (4, S::U8, 1, "uint8"),
            DType::I16 => (5, S::I16, 2, "int16"),
            DType::I8 => (6, S::I8, 1, "int8"),
            DType::I64 => (9, S::I64, 8, "int64"),
            DType::Bool => (10, S::BOOL, 1, "bool"),
            DType::BF16 => (14, S::BF16, 2, "bfloat16"),
            DType::U16 => (17, S::U16, 2, "uint16"),
            DType::F16 => (19, S::F16, 2, "float16"),
            DType::U32 => (22, S::U32, 4, "uint32"),
            DType::U64 => (23, S::U64, 8, "uint64"),
            DType::Unsupported(name) => return Err(name),
        };
        Ok(Codes {
            tensorflow,
            safetensors,
            size,
            name,
        })
    }

    fn find(matches: impl Fn(&Codes) -> bool) -> Option<DType> {
        CONVERTIBLE
            .into_iter()
            .find(|dtype| dtype.codes().is_ok_and(|codes| matches(&codes)))
    }

    /// The type of TensorFlow `DataType` code `code`.
    pub fn from_tensorflow(code: i32) -> DType {
        DType::find(|codes| codes.tensorflow == code).unwrap_or_else(|| {
            let name = TENSORFLOW_ONLY
                .iter()
                .find(|(known, _)| *known == code)
                .map_or_else(
                    || format!("TensorFlow DataType {code}"),
                    |(_, name)| name.to_string(),
                );
            DType::Unsupported(name)
        })
    }

    /// The TensorFlow `DataType` code, if the type has one here.
    pub fn tensorflow_code(&self) -> Option<i32> {
        self.codes().ok().map(|codes| codes.tensorflow)
    }

    pub fn from_safetensors(dtype: safetensors::Dtype) -> DType {
        DType::find(|codes| codes.safetensors == dtype)
            .unwrap_or_else(|| DType::Unsupported(format!("{dtype:?}")))
    }

    pub fn safetensors(&self) -> Option<safetensors::Dtype> {
        self.codes().ok().map(|codes| codes.safetensors)
    }

    /// Bytes per element; `None` for unsupported types.
    pub fn element_size(&self) -> Option<usize> {
        self.codes().ok().map(|codes| codes.size)
    }

    /// The little-endian elements in `bytes` as `f32` (rounded where the type is wider);
    /// `None` for unsupported types. A trailing partial element is ignored: callers check sizes.
    pub fn to_f32(&self, bytes: &[u8]) -> Option<Vec<f32>> {
        Some(match self {
            DType::F32 => widen(bytes, f32::from_le_bytes),
            DType::F64 => widen(bytes, |b| f64::from_le_bytes(b) as f32),
            DType::F16 => widen(bytes, |b| f16_to_f32(u16::from_le_bytes(b))),
            DType::BF16 => widen(bytes, |b| {
                f32::from_bits(u32::from(u16::from_le_bytes(b)) << 16)
            }),
            DType::I8 => widen(bytes, |b| f32::from(i8::from_le_bytes(b))),
            DType::I16 => widen(bytes, |b| f32::from(i16::from_le_bytes(b))),
            DType::I32 => widen(bytes, |b| i32::from_le_bytes(b) as f32),
            DType::I64 => widen(bytes, |b| i64::from_le_bytes(b) as f32),
            DType::U8 => widen(bytes, |b| f32::from(u8::from_le_bytes(b))),
            DType::U16 => widen(bytes, |b| f32::from(u16::from_le_bytes(b))),
            DType::U32 => widen(bytes, |b| u32::from_le_bytes(b) as f32),
            DType::U64 => widen(bytes, |b| u64::from_le_bytes(b) as f32),
            DType::Bool => widen(bytes, |[b]: [u8; 1]| f32::from(u8::from(b != 0))),
            DType::Unsupported(_) => return None,
        })
    }
}

impl fmt::Display for DType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self.codes() {
            Ok(codes) => codes.name,
            Err(name) => name,
        })
    }
}

fn widen<const N: usize>(bytes: &[u8], element: impl Fn([u8; N]) -> f32) -> Vec<f32> {
    bytes
        .chunks_exact(N)
        .map(|chunk| element(chunk.try_into().expect("chunks_exact yields N bytes")))
        .collect()
}

/// IEEE 754 half precision to single; exact, since every half value is a single value.
fn f16_to_f32(bits: u16) -> f32 {
    let sign = u32::from(bits & 0x8000) << 16;
    let exponent = u32::from((bits >> 10) & 0x1f);
    let mantissa = u32::from(bits & 0x3ff);
    let magnitude = match exponent {
        0 => (mantissa as f32 * 2f32.powi(-24)).to_bits(),
        0x1f => 0x7f80_0000 | (mantissa << 13),
        _ => ((exponent + 127 - 15) << 23) | (mantissa << 13),
    };
    f32::from_bits(sign | magnitude)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tensorflow_codes_round_trip_and_unknown_codes_keep_their_name() {
        for dtype in CONVERTIBLE {
            let code = dtype.tensorflow_code().unwrap();
            assert_eq!(DType::from_tensorflow(code), dtype);
            assert_eq!(DType::from_safetensors(dtype.safetensors().unwrap()), dtype);
        }
        assert_eq!(DType::from_tensorflow(1), DType::F32);
        assert_eq!(DType::from_tensorflow(19), DType::F16);
        assert_eq!(DType::from_tensorflow(7).to_string(), "DT_STRING");
        assert_eq!(
            DType::from_tensorflow(101).to_string(),
            "TensorFlow DataType 101"
        );
        assert_eq!(DType::from_tensorflow(7).to_f32(&[0; 8]), None);
    }

    #[test]
    fn narrow_and_wide_types_widen_to_the_same_values() {
        let halves: Vec<u8> = [0x3c00u16, 0xc000, 0x0001, 0x7bff, 0x7c00, 0x8000]
            .iter()
            .flat_map(|h| h.to_le_bytes())
            .collect();
        let expected = [1.0, -2.0, 2f32.powi(-24), 65504.0, f32::INFINITY, -0.0];
        let widened = DType::F16.to_f32(&halves).unwrap();
        assert_eq!(widened, expected);
        assert!(widened[5].is_sign_negative());
        assert_eq!(DType::BF16.to_f32(&[0x80, 0x3f]).unwrap(), [1.0]);
        assert_eq!(DType::F64.to_f32(&0.5f64.to_le_bytes()).unwrap(), [0.5]);
        assert_eq!(
            DType::I32.to_f32(&200_000i32.to_le_bytes()).unwrap(),
            [200_000.0]
        );
        assert_eq!(DType::I8.to_f32(&[0xff]).unwrap(), [-1.0]);
        assert_eq!(DType::Bool.to_f32(&[0, 2]).unwrap(), [0.0, 1.0]);
    }
}
