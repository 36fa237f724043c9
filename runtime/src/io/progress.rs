//! Progress on stderr while rows stream (feature `progress`): rows done, rows per second, and an
//! ETA when the total is known. Without the feature, the writers' hook compiles to nothing.

/// A progress reporter for streamed output, drawn on stderr (never stdout) through `indicatif`.
///
/// Give one to a writer with `with_progress`; the writer advances it by each chunk's rows, and
/// finishes it (or marks it abandoned) when the output is finished (or fails). It draws at most
/// about 20 times a second, and not at all when stderr is not a terminal.
///
/// ```
/// use preallocate_runtime::Progress;
///
/// let progress = Progress::hidden(Some(1_000)); // `Progress::stderr` to draw it
/// progress.advance(250);
/// assert_eq!(progress.rows(), 250);
/// assert_eq!(progress.total(), Some(1_000));
/// ```
#[cfg(feature = "progress")]
#[derive(Debug, Clone)]
pub struct Progress {
    bar: indicatif::ProgressBar,
}

#[cfg(feature = "progress")]
impl Progress {
    /// A reporter drawn on stderr; `total_rows` (the input's length, when known) adds a bar and
    /// an ETA.
    ///
    /// ```
    /// let progress = preallocate_runtime::Progress::stderr(None);
    /// assert_eq!(progress.total(), None);
    /// ```
    #[must_use]
    pub fn stderr(total_rows: Option<u64>) -> Self {
        Self::with_target(total_rows, indicatif::ProgressDrawTarget::stderr())
    }

    /// A reporter that counts without drawing (for tests, or to read the count elsewhere).
    ///
    /// ```
    /// let progress = preallocate_runtime::Progress::hidden(None);
    /// progress.advance(3);
    /// assert_eq!(progress.rows(), 3);
    /// ```
    #[must_use]
    pub fn hidden(total_rows: Option<u64>) -> Self {
        Self::with_target(total_rows, indicatif::ProgressDrawTarget::hidden())
    }

    fn with_target(total_rows: Option<u64>, target: indicatif::ProgressDrawTarget) -> Self {
        let bar = indicatif::ProgressBar::with_draw_target(total_rows, target);
        let template = if total_rows.is_some() {
            "{elapsed_precise} [{bar:30}] {human_pos}/{human_len} rows, {rate}, ETA {eta}"
        } else {
            "{elapsed_precise} {human_pos} rows, {rate}"
        };
        // why no `unwrap`: the templates are constant and valid, but the library never panics;
        // a rejected template keeps indicatif's default style.
        if let Ok(style) = indicatif::ProgressStyle::with_template(template) {
            // Whole rows per second, grouped by thousands ("1,446,010 rows/s"): indicatif's own
            // `{per_sec}` prints four decimals.
            let style = style.with_key(
                "rate",
                |state: &indicatif::ProgressState, out: &mut dyn std::fmt::Write| {
                    let rate = indicatif::HumanCount(state.per_sec() as u64);
                    let _ = write!(out, "{rate} rows/s");
                },
            );
            bar.set_style(style.progress_chars("=> "));
        }
        Progress { bar }
    }

    /// Adds `rows` rows to the count.
    ///
    /// ```
    /// let progress = preallocate_runtime::Progress::hidden(Some(10));
    /// progress.advance(4);
    /// progress.advance(6);
    /// assert_eq!(progress.rows(), 10);
    /// ```
    pub fn advance(&self, rows: u64) {
        self.bar.inc(rows);
    }

    /// Rows counted so far.
    ///
    /// ```
    /// assert_eq!(preallocate_runtime::Progress::hidden(None).rows(), 0);
    /// ```
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.bar.position()
    }

    /// The total rows expected, if known.
    ///
    /// ```
    /// assert_eq!(preallocate_runtime::Progress::hidden(Some(5)).total(), Some(5));
    /// ```
    #[must_use]
    pub fn total(&self) -> Option<u64> {
        self.bar.length()
    }

    /// Whether the output was finished (or abandoned), which stops the display.
    ///
    /// ```
    /// assert!(!preallocate_runtime::Progress::hidden(None).is_finished());
    /// ```
    #[must_use]
    pub fn is_finished(&self) -> bool {
        self.bar.is_finished()
    }
}

/// The writers' hook: advances a [`Progress`] if one was given, else does nothing.
#[derive(Debug, Default)]
pub(crate) struct Ticker {
    #[cfg(feature = "progress")]
    progress: Option<Progress>,
}

impl Ticker {
    pub(crate) fn none() -> Self {
        Ticker::default()
    }

    #[cfg(feature = "progress")]
    pub(crate) fn new(progress: Progress) -> Self {
        Ticker {
            progress: Some(progress),
        }
    }

    #[inline]
    pub(crate) fn advance(&self, rows: usize) {
        #[cfg(feature = "progress")]
        if let Some(progress) = &self.progress {
            progress.advance(rows as u64);
        }
        #[cfg(not(feature = "progress"))]
        let _ = rows;
    }

    /// The output is complete: leave the final count on screen.
    pub(crate) fn finish(&self) {
        #[cfg(feature = "progress")]
        if let Some(progress) = &self.progress {
            progress.bar.finish();
        }
    }

    /// The output failed: stop drawing, leaving the count where it stopped.
    pub(crate) fn abandon(&self) {
        #[cfg(feature = "progress")]
        if let Some(progress) = &self.progress {
            progress.bar.abandon();
        }
    }
}

#[cfg(all(test, feature = "progress"))]
mod tests {
    use super::*;

    #[test]
    fn the_ticker_advances_and_finishes_its_progress() {
        let progress = Progress::hidden(Some(10));
        let ticker = Ticker::new(progress.clone());
        ticker.advance(3);
        ticker.advance(7);
        assert_eq!(progress.rows(), 10);
        assert!(!progress.is_finished());
        ticker.finish();
        assert!(progress.is_finished());
    }

    #[test]
    fn an_abandoned_output_stops_the_display() {
        let progress = Progress::hidden(None);
        let ticker = Ticker::new(progress.clone());
        ticker.advance(5);
        ticker.abandon();
        assert!(progress.is_finished());
        assert_eq!(progress.rows(), 5);
    }
}
