//! Progress on stderr while rows stream (feature `progress`): rows done, rows per second, and an
//! ETA when the total is known. Without the feature, the writers' hook compiles to nothing.

/// A progress reporter for streamed output, drawn on stderr (never stdout) through `indicatif`.
///
/// Give one to a writer with `with_progress`; the writer advances it by each chunk's rows, and
/// finishes it (or marks it abandoned) when the output is finished (or fails). On a terminal it
/// draws a bar at most about 20 times a second; when stderr is not a terminal (a CI log,
/// `nohup`), it prints a plain line every few seconds instead (rows, rows/s, and the ETA when
/// the total is known), and one when the output ends.
///
/// ```
/// use preallocate::Progress;
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
    /// Plain lines for a stderr that is not a terminal, where the bar is not drawn.
    lines: Option<std::sync::Arc<lines::Lines>>,
}

/// Progress as plain lines, for logs.
#[cfg(feature = "progress")]
mod lines {
    use std::io::Write;
    use std::sync::Mutex;
    use std::time::{Duration, Instant};

    /// How often a line is printed.
    pub(super) const EVERY: Duration = Duration::from_secs(5);

    pub(super) struct Lines {
        start: Instant,
        total: Option<u64>,
        /// When the last line was printed; `None` once the output ended.
        last: Mutex<Option<Instant>>,
        out: Mutex<Box<dyn Write + Send>>,
    }

    impl std::fmt::Debug for Lines {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.debug_struct("Lines")
                .field("start", &self.start)
                .field("total", &self.total)
                .finish_non_exhaustive()
        }
    }

    impl Lines {
        pub(super) fn new(total: Option<u64>, out: Box<dyn Write + Send>) -> Self {
            let start = Instant::now();
            Lines {
                start,
                total,
                last: Mutex::new(Some(start)),
                out: Mutex::new(out),
            }
        }

        /// Prints a line if the last one is `EVERY` old (or `now` is the end).
        pub(super) fn tick(&self, rows: u64, end: Option<&str>) {
            let now = Instant::now();
            let Ok(mut last) = self.last.lock() else {
                return;
            };
            let due = match (*last, end) {
                (None, _) => false,
                (Some(_), Some(_)) => true,
                (Some(at), None) => now.duration_since(at) >= EVERY,
            };
            if !due {
                return;
            }
            *last = if end.is_some() { None } else { Some(now) };
            let line = line(now.duration_since(self.start), rows, self.total, end);
            if let Ok(mut out) = self.out.lock() {
                let _ = writeln!(out, "{line}");
            }
        }
    }

    /// `12.0s: 1,200,000 rows, 100,000 rows/s, ETA 8s`, or `... done` at the end.
    pub(super) fn line(
        elapsed: Duration,
        rows: u64,
        total: Option<u64>,
        end: Option<&str>,
    ) -> String {
        let seconds = elapsed.as_secs_f64();
        let rate = if seconds > 0.0 {
            rows as f64 / seconds
        } else {
            0.0
        };
        let count = match total {
            Some(total) => format!(
                "{}/{} rows",
                indicatif::HumanCount(rows),
                indicatif::HumanCount(total)
            ),
            None => format!("{} rows", indicatif::HumanCount(rows)),
        };
        let mut line = format!(
            "{seconds:.1}s: {count}, {} rows/s",
            indicatif::HumanCount(rate as u64)
        );
        match (end, total) {
            (Some(end), _) => {
                line.push_str(", ");
                line.push_str(end);
            }
            (None, Some(total)) if rate > 0.0 && total > rows => {
                let eta = Duration::from_secs_f64((total - rows) as f64 / rate);
                line.push_str(&format!(", ETA {}", indicatif::HumanDuration(eta)));
            }
            _ => {}
        }
        line
    }
}

#[cfg(feature = "progress")]
impl Progress {
    /// A reporter drawn on stderr; `total_rows` (the input's length, when known) adds a bar and
    /// an ETA.
    ///
    /// ```
    /// let progress = preallocate::Progress::stderr(None);
    /// assert_eq!(progress.total(), None);
    /// ```
    #[must_use]
    pub fn stderr(total_rows: Option<u64>) -> Self {
        use std::io::IsTerminal;
        if std::io::stderr().is_terminal() {
            Self::with_target(total_rows, indicatif::ProgressDrawTarget::stderr())
        } else {
            Self::lines(total_rows, Box::new(std::io::stderr()))
        }
    }

    /// A reporter that prints a plain line to `out` every few seconds and when the output
    /// ends, as [`Progress::stderr`] does when stderr is not a terminal.
    ///
    /// ```
    /// # use std::io::Write;
    /// # #[derive(Clone, Default)] struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
    /// # impl Write for Log {
    /// #     fn write(&mut self, b: &[u8]) -> std::io::Result<usize> { self.0.lock().unwrap().write(b) }
    /// #     fn flush(&mut self) -> std::io::Result<()> { Ok(()) }
    /// # }
    /// let log = Log::default();
    /// let progress = preallocate::Progress::lines(Some(10), Box::new(log.clone()));
    /// progress.advance(10);
    /// progress.finish();
    /// let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    /// assert!(text.contains("10/10 rows") && text.trim_end().ends_with("done"));
    /// ```
    #[must_use]
    pub fn lines(total_rows: Option<u64>, out: Box<dyn std::io::Write + Send>) -> Self {
        let mut progress = Self::with_target(total_rows, indicatif::ProgressDrawTarget::hidden());
        progress.lines = Some(std::sync::Arc::new(lines::Lines::new(total_rows, out)));
        progress
    }

    /// Ends the report: the final count stays on screen (or in the log).
    pub fn finish(&self) {
        self.bar.finish();
        if let Some(lines) = &self.lines {
            lines.tick(self.rows(), Some("done"));
        }
    }

    fn abandon(&self) {
        self.bar.abandon();
        if let Some(lines) = &self.lines {
            lines.tick(self.rows(), Some("stopped"));
        }
    }

    /// A reporter that counts without drawing (for tests, or to read the count elsewhere).
    ///
    /// ```
    /// let progress = preallocate::Progress::hidden(None);
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
        Progress { bar, lines: None }
    }

    /// Adds `rows` rows to the count.
    ///
    /// ```
    /// let progress = preallocate::Progress::hidden(Some(10));
    /// progress.advance(4);
    /// progress.advance(6);
    /// assert_eq!(progress.rows(), 10);
    /// ```
    pub fn advance(&self, rows: u64) {
        self.bar.inc(rows);
        if let Some(lines) = &self.lines {
            lines.tick(self.rows(), None);
        }
    }

    /// Rows counted so far.
    ///
    /// ```
    /// assert_eq!(preallocate::Progress::hidden(None).rows(), 0);
    /// ```
    #[must_use]
    pub fn rows(&self) -> u64 {
        self.bar.position()
    }

    /// The total rows expected, if known.
    ///
    /// ```
    /// assert_eq!(preallocate::Progress::hidden(Some(5)).total(), Some(5));
    /// ```
    #[must_use]
    pub fn total(&self) -> Option<u64> {
        self.bar.length()
    }

    /// Whether the output was finished (or abandoned), which stops the display.
    ///
    /// ```
    /// assert!(!preallocate::Progress::hidden(None).is_finished());
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
            progress.finish();
        }
    }

    /// The output failed: stop drawing, leaving the count where it stopped.
    pub(crate) fn abandon(&self) {
        #[cfg(feature = "progress")]
        if let Some(progress) = &self.progress {
            progress.abandon();
        }
    }
}

#[cfg(all(test, feature = "progress"))]
mod tests {
    use super::*;

    #[test]
    fn log_lines_name_rows_rate_and_eta() {
        use std::time::Duration;
        assert_eq!(
            lines::line(Duration::from_secs(10), 1_000_000, Some(3_000_000), None),
            "10.0s: 1,000,000/3,000,000 rows, 100,000 rows/s, ETA 20 seconds"
        );
        assert_eq!(
            lines::line(Duration::from_secs(4), 2_000, None, Some("done")),
            "4.0s: 2,000 rows, 500 rows/s, done"
        );
    }

    #[derive(Clone, Default)]
    struct Log(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Log {
        fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_log_gets_one_line_at_the_end_of_a_short_run() {
        let log = Log::default();
        let progress = Progress::lines(Some(100), Box::new(log.clone()));
        let ticker = Ticker::new(progress.clone());
        ticker.advance(60);
        ticker.advance(40);
        ticker.finish();
        ticker.finish();
        let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
        assert_eq!(text.lines().count(), 1, "{text}");
        assert!(
            text.contains("100/100 rows") && text.trim_end().ends_with("done"),
            "{text}"
        );
    }

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
