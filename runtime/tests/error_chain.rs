//! Every error prints each message once along its `source()` chain, as `anyhow` and `eyre`
//! print it: a wrapper's `Display` includes the message it wraps, so its `source()` skips to the
//! first error whose message it does not include.

use std::error::Error as StdError;
use std::fmt;
use std::io;

use preallocate_runtime::{
    CastError, Error, IoError, ItemError, OutputCause, RowError, SinkError, SinkFailure,
};

/// A row function's error with a cause of its own, as well-behaved errors have.
#[derive(Debug)]
struct BadLine {
    cause: io::Error,
}

impl fmt::Display for BadLine {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("bad line")
    }
}

impl StdError for BadLine {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.cause)
    }
}

fn bad_line() -> BadLine {
    BadLine {
        cause: io::Error::other("stream reset"),
    }
}

/// The messages along the chain, as `anyhow`'s `{:#}` prints them.
fn chain(err: &(dyn StdError + 'static)) -> Vec<String> {
    let mut messages = vec![err.to_string()];
    let mut next = err.source();
    while let Some(err) = next {
        messages.push(err.to_string());
        next = err.source();
    }
    messages
}

/// No message of the chain is printed twice: none contains a later one.
fn assert_each_message_once(err: &(dyn StdError + 'static)) -> Vec<String> {
    let messages = chain(err);
    for (i, outer) in messages.iter().enumerate() {
        for inner in &messages[i + 1..] {
            assert!(
                !outer.contains(inner.as_str()),
                "{outer:?} repeats {inner:?} from later in the chain {messages:?}"
            );
        }
    }
    messages
}

#[test]
fn an_item_error_names_the_item_then_the_cause() {
    let err = ItemError {
        index: 7,
        error: RowError::Row(bad_line()),
    };
    assert_eq!(
        assert_each_message_once(&err),
        ["item 7 (counting from 0): bad line", "stream reset"]
    );
}

#[test]
fn an_entry_point_error_names_the_rows_written_then_the_cause() {
    let err: Error<BadLine> = Error::Item {
        written: 3,
        error: ItemError {
            index: 4,
            error: RowError::Row(bad_line()),
        },
    };
    assert_eq!(
        assert_each_message_once(&err),
        [
            "item 4 (counting from 0): bad line (3 rows written before it)",
            "stream reset"
        ]
    );
}

#[test]
fn a_cast_error_is_one_message() {
    let err = ItemError::<BadLine> {
        index: 2,
        error: RowError::Cast(CastError::new(1, &1e300f64, "f32")),
    };
    assert_eq!(
        assert_each_message_once(&err),
        ["item 2 (counting from 0): row element 1 (1e300) does not fit in f32"]
    );
}

#[test]
fn an_output_error_names_the_file_and_the_os_error_once() {
    let os = io::Error::other(BadLine {
        cause: io::Error::other("device gone"),
    });
    let sink = SinkError::Io {
        op: "write rows to",
        path: "x.npy".into(),
        source: IoError::from(os),
    };
    let failure = SinkFailure {
        written: 8,
        partial: Some("x.npy.partial".into()),
        source: sink.clone(),
    };
    assert_eq!(
        assert_each_message_once(&failure),
        [
            "cannot write rows to `x.npy`: bad line (8 rows written, kept in `x.npy.partial`)",
            "device gone"
        ]
    );
    let err: Error<BadLine> = Error::Output {
        written: 8,
        partial: Some("x.npy.partial".into()),
        other_partials: Box::default(),
        cause: OutputCause::Sink(sink),
    };
    assert_eq!(
        assert_each_message_once(&err),
        [
            "cannot write rows to `x.npy`: bad line (8 rows written, kept in `x.npy.partial`)",
            "device gone"
        ]
    );
}
