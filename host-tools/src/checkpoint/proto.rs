//! The protobuf messages a checkpoint index stores as table values, declared by hand with the
//! field numbers and types of TensorFlow's `tensor_bundle.proto`, `tensor_shape.proto` and
//! `versions.proto`. Enums are kept as their `int32` wire values, so an unknown value reaches the
//! reader's checks instead of failing to decode. It only describes; checking is the reader's job.

/// The value of the table's first entry, whose key is empty.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct BundleHeaderProto {
    #[prost(int32, tag = "1")]
    pub num_shards: i32,
    /// 0 little-endian, 1 big-endian; applies to tensor bytes only.
    #[prost(int32, tag = "2")]
    pub endianness: i32,
    #[prost(message, optional, tag = "3")]
    pub version: Option<VersionDef>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct VersionDef {
    #[prost(int32, tag = "1")]
    pub producer: i32,
    #[prost(int32, tag = "2")]
    pub min_consumer: i32,
    #[prost(int32, repeated, tag = "3")]
    pub bad_consumers: Vec<i32>,
}

/// Where one tensor's bytes lie and how to check them.
#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct BundleEntryProto {
    /// A TensorFlow `DataType` code.
    #[prost(int32, tag = "1")]
    pub dtype: i32,
    #[prost(message, optional, tag = "2")]
    pub shape: Option<TensorShapeProto>,
    #[prost(int32, tag = "3")]
    pub shard_id: i32,
    #[prost(int64, tag = "4")]
    pub offset: i64,
    #[prost(int64, tag = "5")]
    pub size: i64,
    /// Masked CRC32C of the tensor bytes.
    #[prost(fixed32, tag = "6")]
    pub crc32c: u32,
    /// `TensorSliceProto`s of a partitioned variable; only their presence matters here, so they
    /// stay undecoded.
    #[prost(bytes = "vec", repeated, tag = "7")]
    pub slices: Vec<Vec<u8>>,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct TensorShapeProto {
    #[prost(message, repeated, tag = "2")]
    pub dim: Vec<Dim>,
    #[prost(bool, tag = "3")]
    pub unknown_rank: bool,
}

#[derive(Clone, PartialEq, prost::Message)]
pub(super) struct Dim {
    #[prost(int64, tag = "1")]
    pub size: i64,
    #[prost(string, tag = "2")]
    pub name: String,
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;

    #[test]
    fn a_scalar_entry_keeps_its_empty_shape() {
        let entry = BundleEntryProto {
            dtype: 1,
            shape: Some(TensorShapeProto::default()),
            offset: 8,
            size: 4,
            crc32c: 0x0403_0201,
            ..BundleEntryProto::default()
        };
        let bytes = entry.encode_to_vec();
        assert_eq!(
            bytes,
            [0x08, 1, 0x12, 0, 0x20, 8, 0x28, 4, 0x35, 1, 2, 3, 4]
        );
        assert_eq!(BundleEntryProto::decode(&bytes[..]).unwrap(), entry);
    }
}
