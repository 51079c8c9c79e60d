//! The keystore benchmark's report lines (init's `hyptest=keystore-bench` mode, printing what
//! `keystore-cli bench` measured), read by its smoke test and by `cargo xtask bench`.

/// Starts each report line, followed by keystore-cli's `keystore-bench operation=...` line.
pub const REPORT: &str = "HYPTEST-KEYSTORE-BENCH ";
/// Printed after the last report; init powers off next.
pub const DONE: &str = "HYPTEST-KEYSTORE-BENCH-DONE";
/// The operations init benchmarks, in its order.
pub const OPERATIONS: [&str; 2] = ["pubkey", "sign"];

/// One report: what `keystore-cli bench` measured for one kind of request.
#[derive(Clone, Debug, PartialEq)]
pub struct Report {
    /// `sign` or `pubkey`.
    pub operation: String,
    pub requests: u64,
    /// CLOCK_MONOTONIC nanoseconds of all timed requests.
    pub total_ns: u64,
    /// `total_ns / requests`.
    pub mean_ns: f64,
    /// The fastest single request.
    pub min_ns: u64,
    pub requests_per_second: f64,
}

/// Reads a report from the text after [`REPORT`] (or from a whole console line containing it):
/// `keystore-bench operation=sign requests=1000 total_ns=... mean_ns=... min_ns=...
/// requests_per_s=...`. `None` when a field is missing or not a number.
pub fn parse(text: &str) -> Option<Report> {
    let text = text.split_once("keystore-bench ")?.1;
    let field = |name: &str| {
        text.split_whitespace()
            .find_map(|word| word.strip_prefix(name)?.strip_prefix('='))
    };
    Some(Report {
        operation: field("operation")?.to_string(),
        requests: field("requests")?.parse().ok()?,
        total_ns: field("total_ns")?.parse().ok()?,
        mean_ns: field("mean_ns")?.parse().ok()?,
        min_ns: field("min_ns")?.parse().ok()?,
        requests_per_second: field("requests_per_s")?.parse().ok()?,
    })
}

/// Every report line in `output` (a console log), in order.
pub fn reports(output: &str) -> Vec<Report> {
    output
        .lines()
        .filter(|line| line.contains(REPORT))
        .filter_map(parse)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = "[android] HYPTEST-KEYSTORE-BENCH keystore-bench operation=sign \
                        requests=1000 total_ns=1234567890 mean_ns=1234567.9 min_ns=1200000 \
                        requests_per_s=810.0";

    #[test]
    fn a_console_line_parses() {
        assert_eq!(
            parse(LINE),
            Some(Report {
                operation: "sign".into(),
                requests: 1000,
                total_ns: 1_234_567_890,
                mean_ns: 1_234_567.9,
                min_ns: 1_200_000,
                requests_per_second: 810.0,
            })
        );
    }

    #[test]
    fn missing_or_broken_fields_do_not_parse() {
        assert_eq!(parse(&LINE.replace(" min_ns=1200000", "")), None);
        assert_eq!(parse(&LINE.replace("requests=1000", "requests=x")), None);
        assert_eq!(parse("HYPTEST-KEYSTORE-BENCH "), None);
    }

    #[test]
    fn reports_are_collected_in_order() {
        let output = format!(
            "[hyp] something\n{}\n{LINE}\n[android] {DONE}\n",
            LINE.replace("operation=sign", "operation=pubkey")
        );
        let found: Vec<String> = reports(&output)
            .into_iter()
            .map(|report| report.operation)
            .collect();
        assert_eq!(found, ["pubkey", "sign"]);
    }
}
