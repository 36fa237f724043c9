//! `SafetensorsWriter`: every dtype (bf16 included) read back with the reference `safetensors`
//! crate, for 0, 1 and many rows in whole, fixed and irregular chunks.

mod common;

use std::collections::BTreeMap;
use std::fs;

use common::{chunk_sizes, le_bytes, rows, Pattern, Sample};
use preallocate_runtime::ndarray::s;
use preallocate_runtime::{bf16, f16, SafetensorsElement, SafetensorsWriter, SinkError};
use safetensors::SafeTensors;

fn round_trip<T: SafetensorsElement + Sample>() {
    let dir = tempfile::tempdir().unwrap();
    for n in [0, 1, 2, 300] {
        for pattern in [Pattern::Whole, Pattern::Fixed(64), Pattern::Irregular] {
            let path = dir
                .path()
                .join(format!("{}-{n}-{pattern:?}.safetensors", T::NAME));
            let values = rows::<T>(n, n, 2 * 3);
            let mut out = SafetensorsWriter::<T>::create(&path, "features", &[2, 3]).unwrap();
            let mut start = 0;
            for size in chunk_sizes(n, pattern) {
                out.write_chunk(values.slice(s![start..start + size, ..]))
                    .unwrap();
                start += size;
            }
            let written = out.finish().unwrap();
            assert_eq!(written.shape, vec![n, 2, 3]);
            assert_eq!(written.data_offset % 8, 0);

            let bytes = fs::read(&path).unwrap();
            assert_eq!(written.bytes, bytes.len() as u64);
            let tensors = SafeTensors::deserialize(&bytes)
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(tensors.names(), ["features"]);
            let tensor = tensors.tensor("features").unwrap();
            assert_eq!(tensor.dtype().to_string(), T::DTYPE);
            assert_eq!(tensor.shape(), &[n, 2, 3]);
            assert_eq!(tensor.data(), &le_bytes(&values)[..], "{}", path.display());
            assert_eq!(
                8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()),
                written.data_offset
            );
        }
    }
}

#[test]
fn every_dtype_round_trips_through_the_reference_reader() {
    round_trip::<bf16>();
    round_trip::<f16>();
    round_trip::<f32>();
    round_trip::<f64>();
    round_trip::<i8>();
    round_trip::<i16>();
    round_trip::<i32>();
    round_trip::<i64>();
    round_trip::<u8>();
    round_trip::<u16>();
    round_trip::<u32>();
    round_trip::<u64>();
}

#[test]
fn metadata_and_awkward_names_survive() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let metadata = BTreeMap::from([
        ("format".to_owned(), "pt".to_owned()),
        ("note".to_owned(), "quotes \" and \\ and ünïcode".to_owned()),
    ]);
    let name = "layer.0/\"weight\" ü";
    let mut out =
        SafetensorsWriter::<f32>::create_with_metadata(&path, name, &[4], metadata.clone())
            .unwrap();
    let values = rows::<f32>(0, 3, 4);
    out.write_chunk(values.view()).unwrap();
    out.finish().unwrap();
    let bytes = fs::read(&path).unwrap();
    let (_, header) = SafeTensors::read_metadata(&bytes).unwrap();
    let read: BTreeMap<String, String> = header.metadata().clone().unwrap().into_iter().collect();
    assert_eq!(read, metadata);
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    assert_eq!(tensors.tensor(name).unwrap().data(), &le_bytes(&values)[..]);
}

#[test]
fn reserved_and_empty_names_are_rejected() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    for name in ["", "__metadata__"] {
        let failure = SafetensorsWriter::<f32>::create(&path, name, &[1]).unwrap_err();
        assert!(
            matches!(&failure.source, SinkError::InvalidTensorName { name: n, .. } if n == name),
            "{failure}"
        );
    }
    assert_eq!(fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[test]
fn an_abandoned_bf16_stream_leaves_a_readable_partial() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.safetensors");
    let values = rows::<bf16>(0, 5, 2);
    let mut out = SafetensorsWriter::<bf16>::create(&path, "x", &[2]).unwrap();
    out.write_chunk(values.slice(s![..3, ..])).unwrap();
    out.write_chunk(values.slice(s![3.., ..])).unwrap();
    let kept = out.abandon();
    assert_eq!(kept.rows, 5);
    let partial = kept.path.unwrap();
    assert_eq!(partial, dir.path().join("x.safetensors.partial"));
    assert!(!path.exists());
    let bytes = fs::read(&partial).unwrap();
    let tensors = SafeTensors::deserialize(&bytes).unwrap();
    let tensor = tensors.tensor("x").unwrap();
    assert_eq!(tensor.shape(), &[5, 2]);
    assert_eq!(tensor.data(), &le_bytes(&values)[..]);
}
