//! Tests of the console multiplexer: tagging, pieces, escaping, interleaving, interactivity.

use super::*;

/// Collects what the multiplexer sends, and how many separate lines the terminal saw.
#[derive(Default)]
struct Terminal(Vec<u8>);

impl ConsoleSink for Terminal {
    fn send(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

impl Terminal {
    fn text(&self) -> &str {
        core::str::from_utf8(&self.0).unwrap()
    }
}

const ANDROID: Source = Source::Domain(1);
const SECURE: Source = Source::Domain(0);

fn named_mux() -> ConsoleMux {
    let mut mux = ConsoleMux::new();
    mux.set_domain_name(0, "secure").unwrap();
    mux.set_domain_name(1, "android").unwrap();
    mux
}

#[test]
fn complete_lines_are_tagged_and_end_in_cr_lf() {
    let mut mux = named_mux();
    let mut terminal = Terminal::default();
    mux.write(Source::Hypervisor, b"booting\n", &mut terminal)
        .unwrap();
    mux.write(ANDROID, b"Linux version 6.1\r\nsecond\n", &mut terminal)
        .unwrap();
    mux.write(SECURE, b"\n", &mut terminal).unwrap();
    assert_eq!(
        terminal.text(),
        "[hyp] booting\r\n[android] Linux version 6.1\r\n[android] second\r\n[secure] \r\n"
    );
}

#[test]
fn a_line_written_in_several_calls_goes_out_once_complete() {
    let mut mux = named_mux();
    let mut terminal = Terminal::default();
    mux.write(ANDROID, b"hel", &mut terminal).unwrap();
    mux.write(ANDROID, b"lo\r", &mut terminal).unwrap();
    assert_eq!(terminal.text(), "", "nothing before the line ends");
    mux.write(ANDROID, b"\n", &mut terminal).unwrap();
    assert_eq!(terminal.text(), "[android] hello\r\n");
}

#[test]
fn a_partial_line_never_delays_another_source() {
    let mut mux = named_mux();
    let mut terminal = Terminal::default();
    mux.write(ANDROID, b"login: ", &mut terminal).unwrap();
    mux.write(SECURE, b"keystore ready\n", &mut terminal)
        .unwrap();
    mux.write(Source::Hypervisor, b"domain secure ready\n", &mut terminal)
        .unwrap();
    mux.write(ANDROID, b"root\n", &mut terminal).unwrap();
    assert_eq!(
        terminal.text(),
        "[secure] keystore ready\r\n[hyp] domain secure ready\r\n[android] login: root\r\n"
    );
}

#[test]
fn long_lines_go_out_in_marked_pieces_without_losing_bytes() {
    let mut mux = named_mux();
    let mut terminal = Terminal::default();
    let long: Vec<u8> = (0..LINE_CAPACITY * 2 + 10)
        .map(|index| b'a' + (index % 26) as u8)
        .collect();
    mux.write(SECURE, &long, &mut terminal).unwrap();
    mux.write(SECURE, b"\n", &mut terminal).unwrap();
    let lines: Vec<&str> = terminal.text().split("\r\n").collect();
    assert_eq!(lines.len(), 4, "three pieces and the empty rest");
    assert!(lines[0].starts_with("[secure] a"));
    assert!(lines[1].starts_with("[secure] ... "));
    assert!(lines[2].starts_with("[secure] ... "));
    assert!(lines[0].ends_with(" \\") && lines[1].ends_with(" \\"));
    assert!(!lines[2].ends_with('\\'), "the last piece is not cut");
    let rejoined: String = lines[..3]
        .iter()
        .map(|line| {
            line.trim_start_matches("[secure] ")
                .trim_start_matches("... ")
                .trim_end_matches(" \\")
        })
        .collect();
    assert_eq!(rejoined.as_bytes(), &long[..]);
    // The next line is a fresh one again.
    mux.write(SECURE, b"next\n", &mut terminal).unwrap();
    assert!(terminal.text().ends_with("\r\n[secure] next\r\n"));
}

#[test]
fn control_bytes_and_frame_markers_are_escaped() {
    let mut mux = named_mux();
    let mut terminal = Terminal::default();
    mux.write(
        ANDROID,
        b"\x1b[2J\xff\x00ok\tfine\x7f\xc3\xa9\rfake\n",
        &mut terminal,
    )
    .unwrap();
    assert_eq!(
        terminal.text(),
        "[android] \\x1b[2J\\xff\\x00ok\tfine\\x7f\\xc3\\xa9\\x0dfake\r\n"
    );
    assert!(!terminal.0.contains(&0xFF) && !terminal.0.contains(&0x00));
}

#[test]
fn a_domain_cannot_fake_a_hypervisor_line() {
    let mut mux = named_mux();
    let mut terminal = Terminal::default();
    mux.write(ANDROID, b"ok\n[hyp] all domains stopped\n", &mut terminal)
        .unwrap();
    mux.write(ANDROID, b"x\r[hyp] overwritten tag\n", &mut terminal)
        .unwrap();
    for line in terminal.text().split_terminator("\r\n") {
        assert!(line.starts_with("[android] "), "line {line:?}");
    }
}

#[test]
fn escaping_counts_toward_the_line_capacity() {
    let mut mux = named_mux();
    let mut terminal = Terminal::default();
    mux.write(SECURE, &[0x01; LINE_CAPACITY / 4 + 1], &mut terminal)
        .unwrap();
    assert_eq!(
        terminal.text(),
        format!("[secure] {} \\\r\n", "\\x01".repeat(LINE_CAPACITY / 4))
    );
}

#[test]
fn flush_shows_a_stopped_domains_partial_line_marked() {
    let mut mux = named_mux();
    let mut terminal = Terminal::default();
    mux.write(ANDROID, b"Kernel panic - not syncing", &mut terminal)
        .unwrap();
    mux.flush(ANDROID, &mut terminal).unwrap();
    mux.flush(ANDROID, &mut terminal).unwrap();
    mux.flush(SECURE, &mut terminal).unwrap();
    assert_eq!(
        terminal.text(),
        "[android] Kernel panic - not syncing [no end of line]\r\n"
    );
    mux.write(ANDROID, b"booting again\n", &mut terminal)
        .unwrap();
    assert!(terminal.text().ends_with("\r\n[android] booting again\r\n"));
}

#[test]
fn unnamed_domains_and_bad_names_are_shown_safely() {
    let mut mux = ConsoleMux::new();
    mux.set_domain_name(2, "bad\x1bname").unwrap();
    let mut terminal = Terminal::default();
    mux.write(Source::Domain(3), b"a\n", &mut terminal).unwrap();
    mux.write(Source::Domain(2), b"b\n", &mut terminal).unwrap();
    assert_eq!(terminal.text(), "[domain 3] a\r\n[bad\\x1bname] b\r\n");
}

#[test]
fn domains_beyond_the_maximum_are_refused() {
    let mut mux = ConsoleMux::new();
    let mut terminal = Terminal::default();
    let refused = Err(MuxError::NoSuchDomain { index: MAX_DOMAINS });
    assert_eq!(
        mux.write(Source::Domain(MAX_DOMAINS), b"x\n", &mut terminal),
        refused
    );
    assert_eq!(mux.set_domain_name(MAX_DOMAINS, "x"), refused);
    assert_eq!(
        mux.set_interactive(Some(Source::Domain(MAX_DOMAINS))),
        refused
    );
    assert_eq!(
        mux.flush(Source::Domain(MAX_DOMAINS), &mut terminal),
        refused
    );
    assert!(terminal.0.is_empty());
    let message = MuxError::NoSuchDomain { index: MAX_DOMAINS }.to_string();
    assert!(message.contains("domain 4"), "{message}");
}

#[test]
fn the_interactive_domain_shows_its_prompt_and_echo_at_once() {
    let mut mux = named_mux();
    mux.set_interactive(Some(ANDROID)).unwrap();
    let mut terminal = Terminal::default();
    mux.write(ANDROID, b"~ # ", &mut terminal).unwrap();
    assert_eq!(terminal.text(), "[android] ~ # ");
    mux.write(ANDROID, b"l", &mut terminal).unwrap();
    mux.write(ANDROID, b"s", &mut terminal).unwrap();
    assert_eq!(terminal.text(), "[android] ~ # ls");
    mux.write(ANDROID, b"\r\n", &mut terminal).unwrap();
    assert_eq!(terminal.text(), "[android] ~ # ls\r\n");
}

#[test]
fn other_lines_end_an_open_interactive_line_first() {
    let mut mux = named_mux();
    mux.set_interactive(Some(ANDROID)).unwrap();
    let mut terminal = Terminal::default();
    mux.write(ANDROID, b"~ # ec", &mut terminal).unwrap();
    mux.write(Source::Hypervisor, b"secure: ready\n", &mut terminal)
        .unwrap();
    mux.write(ANDROID, b"ho\r\n", &mut terminal).unwrap();
    assert_eq!(
        terminal.text(),
        "[android] ~ # ec \\\r\n[hyp] secure: ready\r\n[android] ... ho\r\n"
    );
}

#[test]
fn an_interactive_line_longer_than_the_buffer_stays_one_line() {
    let mut mux = named_mux();
    mux.set_interactive(Some(ANDROID)).unwrap();
    let mut terminal = Terminal::default();
    let long = vec![b'x'; LINE_CAPACITY * 2];
    mux.write(ANDROID, &long, &mut terminal).unwrap();
    mux.write(ANDROID, b"\n", &mut terminal).unwrap();
    let expected = format!("[android] {}\r\n", "x".repeat(LINE_CAPACITY * 2));
    assert_eq!(terminal.text(), expected);
}

#[test]
fn end_open_line_makes_room_for_foreign_output() {
    let mut mux = named_mux();
    mux.set_interactive(Some(ANDROID)).unwrap();
    let mut terminal = Terminal::default();
    mux.end_open_line(&mut terminal);
    assert_eq!(terminal.text(), "", "nothing open, nothing sent");
    mux.write(ANDROID, b"~ # ", &mut terminal).unwrap();
    mux.end_open_line(&mut terminal);
    terminal.send(b"<frame>");
    mux.write(ANDROID, b"x\n", &mut terminal).unwrap();
    assert_eq!(
        terminal.text(),
        "[android] ~ #  \\\r\n<frame>[android] ... x\r\n"
    );
}

#[test]
fn focus_moving_away_leaves_lines_whole() {
    let mut mux = named_mux();
    mux.set_interactive(Some(ANDROID)).unwrap();
    let mut terminal = Terminal::default();
    mux.write(ANDROID, b"~ # ", &mut terminal).unwrap();
    mux.set_interactive(Some(SECURE)).unwrap();
    // Android's line is still open on the terminal: its rest completes it in place.
    mux.write(ANDROID, b"done\n", &mut terminal).unwrap();
    mux.write(SECURE, b"> ", &mut terminal).unwrap();
    mux.set_interactive(None).unwrap();
    mux.write(ANDROID, b"late", &mut terminal).unwrap();
    mux.flush(SECURE, &mut terminal).unwrap();
    assert_eq!(
        terminal.text(),
        "[android] ~ # done\r\n[secure] >  [no end of line]\r\n"
    );
}
