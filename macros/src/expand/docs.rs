//! The doc comments of the generated items, so that crates with `#![deny(missing_docs)]`
//! compile and the companions read well in rustdoc.

use crate::attr::Extent;
use crate::errors::shown;
use crate::model::Form;
use crate::spec::{Policy, Spec};

pub struct Docs {
    pub batch: String,
    pub pipeline: String,
    pub fill: String,
    pub par_batch: String,
    pub par_fill: String,
    pub dim: String,
    pub shape: String,
    pub dtype: String,
}

/// The docs of the companions of `name`, the row function as a caller writes it
/// (`featurize()`, `self.encode()`).
///
/// `siblings` names the sequential entry points as the caller writes them (`batch`,
/// `self.encode_batch`), for the parallel ones' docs.
pub fn docs(spec: &Spec, name: &str, siblings: [&str; 2]) -> Docs {
    let [batch, fill] = siblings;
    let item = shown(&spec.sig.function.item_ty);
    let dtype = spec.dtype.name();
    let shape = match spec.shape.as_slice() {
        [] => "() (a scalar: the batch is 1-D)".to_owned(),
        [one] => extent_text(one),
        axes => format!(
            "({})",
            axes.iter().map(extent_text).collect::<Vec<_>>().join(", ")
        ),
    };
    let verb = match spec.sig.function.form {
        Form::ByValue => "returns",
        Form::InPlace => "writes in place",
    };
    // What happens to items without a row, then (for `batch`) how it fails.
    let dropped = match spec.policy {
        Policy::Plain | Policy::Fallible => String::new(),
        Policy::Filtered | Policy::FallibleFiltered => format!(
            "\n\nItems for which `{name}` gives no row are dropped: `skipped` lists their indices."
        ),
        Policy::Skipping => format!(
            "\n\nItems for which `{name}` fails or gives no row are dropped (`on_error = \"skip\"`): `skipped` lists their indices."
        ),
    };
    let batch_errors = match spec.policy {
        Policy::Fallible | Policy::FallibleFiltered => format!(
            "\n\n# Errors\nThe first item for which `{name}` fails, with its index; no array is returned."
        ),
        _ => String::new(),
    };
    let fill_errors = match spec.policy {
        Policy::Fallible | Policy::FallibleFiltered => "\n- `Error::Item` when an item fails: the rows before it are written, and the error carries their count and the item's index.",
        _ => "",
    };
    Docs {
        batch: format!(
            "Builds the array of the rows of every item (`{item}`), each a row of shape {shape} of `{dtype}`: row `i` is what `{name}` {verb} for item `i`.\n\n\
             The array is allocated once when the input's length is known (its `size_hint` is exact), and grows geometrically, then shrinks to fit, when it is not. No list of rows is built.{dropped}{batch_errors}"
        ),
        fill: format!(
            "Writes the row of every item (`{item}`) into `out`, the caller's buffer of rows of shape {shape} of `{dtype}`, and returns the number of rows written.\n\n\
             `out` is an array view of any layout (`a.view_mut()`, `a.slice_mut(..)`, a column-major array) or a `&mut` array; it can be reused across calls. Rows after the count are left as they were (the first of them may be zeroed when an item gave no row).{dropped}\n\n\
             # Errors\n\
             - `Error::WidthMismatch` (`Error::ShapeMismatch` for multi-axis rows) when the rows of `out` do not have this shape; nothing is written.\n\
             - `Error::BufferFull` when there are more rows than `out` has: every row of `out` is written and the error carries that count.{fill_errors}"
        ),
        par_batch: format!(
            "Like `{batch}`, with the rows computed on every thread of rayon's current pool: the same result as `{batch}`, bit for bit, whatever the number of threads.\n\n\
             `items` is anything rayon splits by index: a `&Vec<T>` or `&[T]`, a range, `v.par_iter()`. The threads are those of the pool the call runs in (`ThreadPool::install` chooses them; rayon's global pool otherwise). Inputs of fewer than a few thousand items run on the calling thread.{batch_errors}"
        ),
        par_fill: format!(
            "Like `{fill}`, with the rows computed on every thread of rayon's current pool: the same rows, count and errors (`BufferFull` included) as `{fill}`, bit for bit, whatever the number of threads.\n\n\
             `items` is anything rayon splits by index: a `&Vec<T>` or `&[T]`, a range, `v.par_iter()`. The threads are those of the pool the call runs in (`ThreadPool::install` chooses them; rayon's global pool otherwise). Inputs of fewer than a few thousand items run on the calling thread. One difference from `{fill}`: rows after the returned count that an item could have filled (up to the number of items) are zeroed, where `{fill}` leaves them as they were.\n\n\
             # Errors\n\
             As `{fill}`."
        ),
        pipeline: format!(
            "A bounded-memory pipeline over `{name}`: rows go through one reused chunk buffer to a closure (`for_each_chunk`), a `.npy` file (`write_npy`), `.npy` shards (`write_npy_shards`) or a safetensors file (`write_safetensors`); set the chunk with `chunk_rows` or `memory_budget`."
        ),
        dim: format!("Number of elements in one row of `{name}`."),
        shape: format!("Shape of one row of `{name}`: {shape}."),
        dtype: format!("Storage element type of the output of `{name}`: `{dtype}`."),
    }
}

fn extent_text(extent: &Extent) -> String {
    match extent {
        Extent::Literal(n, _) => n.to_string(),
        Extent::Const(path) => format!("`{}`", shown(path)),
    }
}
