//! Zarr stores on S3-compatible object storage (feature `s3`): `s3://bucket/prefix`, through
//! `object_store` and `zarrs_object_store`, configured by the standard AWS environment
//! variables.
//!
//! `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY` (and `AWS_SESSION_TOKEN`), `AWS_REGION` (or
//! `AWS_DEFAULT_REGION`), and `AWS_ENDPOINT_URL` for a server other than AWS (MinIO, Ceph,
//! moto): an `http://` endpoint is allowed without TLS. Each write blocks on a small runtime of
//! its own, so `write_zarr` must not be called from inside an async runtime's task.

use std::path::Path;
use std::sync::Arc;

use zarrs::storage::storage_adapter::async_to_sync::{
    AsyncToSyncBlockOn, AsyncToSyncStorageAdapter,
};
use zarrs::storage::ReadableWritableListableStorage;
use zarrs_object_store::object_store::aws::AmazonS3Builder;
use zarrs_object_store::object_store::prefix::PrefixStore;
use zarrs_object_store::object_store::{ClientOptions, ObjectStore};
use zarrs_object_store::AsyncObjectStore;

use super::error::SinkError;

/// Runs the object store's futures to completion on a runtime of its own.
struct BlockOn(tokio::runtime::Runtime);

impl AsyncToSyncBlockOn for BlockOn {
    fn block_on<F: core::future::Future>(&self, future: F) -> F::Output {
        self.0.block_on(future)
    }
}

/// The bucket and the prefix of `s3://bucket/prefix`, if `url` is one.
pub(crate) fn parse_url(url: &str) -> Option<(&str, &str)> {
    let rest = url.strip_prefix("s3://")?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, prefix.trim_matches('/')))
}

/// The store at `s3://bucket/prefix`.
pub(crate) fn open(
    location: &Path,
    bucket: &str,
    prefix: &str,
) -> Result<ReadableWritableListableStorage, SinkError> {
    let fail = |op: &'static str, message: String| SinkError::Store {
        path: location.to_path_buf(),
        op,
        message,
    };
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(fail(
            "open",
            "`write_zarr` blocks, so it cannot run on an async runtime's thread: call it from \
             `tokio::task::spawn_blocking` (or any plain thread)"
                .into(),
        ));
    }
    let builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    let http = std::env::var("AWS_ENDPOINT_URL")
        .or_else(|_| std::env::var("AWS_ENDPOINT"))
        .is_ok_and(|endpoint| endpoint.starts_with("http://"));
    let builder = builder.with_client_options(ClientOptions::new().with_allow_http(http));
    let s3 = builder
        .build()
        .map_err(|e| fail("configure S3 for", e.to_string()))?;
    let store: Arc<dyn ObjectStore> = if prefix.is_empty() {
        Arc::new(s3)
    } else {
        Arc::new(PrefixStore::new(s3, prefix))
    };
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| fail("start the I/O runtime for", e.to_string()))?;
    let adapter =
        AsyncToSyncStorageAdapter::new(Arc::new(AsyncObjectStore::new(store)), BlockOn(runtime));
    Ok(Arc::new(adapter))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_name_a_bucket_and_a_prefix() {
        assert_eq!(parse_url("s3://b/data/x.zarr"), Some(("b", "data/x.zarr")));
        assert_eq!(parse_url("s3://b"), Some(("b", "")));
        assert_eq!(parse_url("s3://b/"), Some(("b", "")));
        assert_eq!(parse_url("s3:///x"), None);
        assert_eq!(parse_url("/data/x.zarr"), None);
    }
}
