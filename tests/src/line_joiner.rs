//! Puts console lines that hyp-arm's multiplexer cut back together, so that tests match what a
//! domain printed, not how its line was interleaved with others' (hyp-arm/src/console/mux.rs):
//! a piece that ends with [`CUT_MARK`] is held back, and the next piece with the same tag,
//! which starts with [`CONTINUATION_MARK`], completes it.
//!
//! ```text
//! [android] HYPTEST-TIMER fir \          held
//! [secure] secure-domain: heartbeat 9    passed on
//! [android] ... st=3253                  becomes [android] HYPTEST-TIMER first=3253
//! ```
//!
//! Bytes of a line still open go through at once (a shell prompt has no line end); when its
//! end shows it was cut, it is taken back out of the output.

/// The multiplexer's end of a piece that a later one completes.
pub const CUT_MARK: &[u8] = b" \\";
/// The multiplexer's start (after the tag) of a piece that completes an earlier one.
pub const CONTINUATION_MARK: &[u8] = b"... ";

#[derive(Default)]
pub struct LineJoiner {
    /// Where the line being received starts in the output.
    line_start: usize,
    /// Cut pieces waiting for their continuation: (tag with its "] ", text so far).
    held: Vec<(Vec<u8>, Vec<u8>)>,
}

impl LineJoiner {
    /// Appends `bytes` to `output`, joining cut lines. Returns the shortest length `output` had
    /// meanwhile: joining takes bytes back out, so whoever keeps a position in `output` must
    /// move back to at most that, or miss what is appended in their place.
    pub fn append(&mut self, output: &mut Vec<u8>, bytes: &[u8]) -> usize {
        let mut shortest = output.len();
        for &byte in bytes {
            output.push(byte);
            if byte == b'\n' {
                self.line_ended(output);
                shortest = shortest.min(self.line_start.min(output.len()));
                self.line_start = output.len();
            }
        }
        shortest
    }

    fn line_ended(&mut self, output: &mut Vec<u8>) {
        let line = output[self.line_start..].to_vec();
        let text = line
            .strip_suffix(b"\r\n")
            .or_else(|| line.strip_suffix(b"\n"))
            .unwrap_or(&line);
        let Some((tag, body)) = split_tag(text) else {
            return;
        };
        let held = self.held.iter().position(|(held_tag, _)| held_tag == tag);
        let continued = body.strip_prefix(CONTINUATION_MARK);
        let (mut joined, body) = match (held, continued) {
            (Some(index), Some(rest)) => (self.held.remove(index).1, rest),
            (Some(index), None) => {
                // No continuation came (the domain stopped): the held piece stands as it was.
                let (held_tag, held_text) = self.held.remove(index);
                let end = output.len();
                let mut restored = held_tag;
                restored.extend_from_slice(&held_text);
                restored.extend_from_slice(CUT_MARK);
                restored.extend_from_slice(b"\r\n");
                output.splice(self.line_start..self.line_start, restored);
                self.line_start += output.len() - end;
                return self.line_ended(output);
            }
            (None, _) => (Vec::new(), body),
        };
        let tag = tag.to_vec();
        match body.strip_suffix(CUT_MARK) {
            Some(piece) => {
                joined.extend_from_slice(piece);
                self.held.push((tag, joined));
                output.truncate(self.line_start);
            }
            None if held.is_some() => {
                joined.extend_from_slice(body);
                output.truncate(self.line_start);
                output.extend_from_slice(&tag);
                output.extend_from_slice(&joined);
                output.extend_from_slice(b"\r\n");
            }
            None => {}
        }
    }
}

/// `[name] ` and the rest of a console line, if it has a tag.
fn split_tag(text: &[u8]) -> Option<(&[u8], &[u8])> {
    if text.first() != Some(&b'[') {
        return None;
    }
    let end = text.windows(2).position(|pair| pair == b"] ")? + 2;
    Some(text.split_at(end))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn joined(chunks: &[&str]) -> String {
        let mut joiner = LineJoiner::default();
        let mut output = Vec::new();
        for chunk in chunks {
            joiner.append(&mut output, chunk.as_bytes());
        }
        String::from_utf8(output).unwrap()
    }

    #[test]
    fn taking_a_cut_piece_back_is_reported() {
        let mut joiner = LineJoiner::default();
        let mut output = Vec::new();
        assert_eq!(joiner.append(&mut output, b"[hyp] up\r\n"), 0);
        let prompt = b"[android] / # ";
        assert_eq!(joiner.append(&mut output, prompt), 10);
        // The prompt was cut by hyp-arm's line: its piece leaves the output, and the hyp line
        // lands where it was.
        let shortest = joiner.append(&mut output, b"\\\r\n[hyp] command: done\r\n");
        assert_eq!(shortest, 10);
        assert_eq!(&output[shortest..], b"[hyp] command: done\r\n");
    }

    #[test]
    fn a_cut_line_is_joined_after_the_interrupting_one() {
        assert_eq!(
            joined(&[
                "[android] HYPTEST-TIMER fir",
                " \\\r\n[secure] heartbeat 9\r\n[android] ... st=3253\r\n",
            ]),
            "[secure] heartbeat 9\r\n[android] HYPTEST-TIMER first=3253\r\n"
        );
    }

    #[test]
    fn long_lines_in_several_pieces_and_other_tags_pass() {
        assert_eq!(
            joined(&[
                "[hyp] ab \\\r\n[secure] x\r\n[hyp] ... cd \\\r\n",
                "[hyp] ... ef\r\nplain line\r\n[secure] y\r\n",
            ]),
            "[secure] x\r\n[hyp] abcdef\r\nplain line\r\n[secure] y\r\n"
        );
    }

    #[test]
    fn an_open_line_is_visible_before_its_end() {
        let mut joiner = LineJoiner::default();
        let mut output = Vec::new();
        joiner.append(&mut output, b"[android] ~ # ");
        assert_eq!(output, b"[android] ~ # ");
        joiner.append(&mut output, b"ls\r\n");
        assert_eq!(output, b"[android] ~ # ls\r\n");
    }

    #[test]
    fn a_cut_piece_without_continuation_is_kept_as_it_was() {
        assert_eq!(
            joined(&["[android] last words \\\r\n[android] fresh line\r\n"]),
            "[android] last words \\\r\n[android] fresh line\r\n"
        );
    }

    #[test]
    fn untagged_text_and_a_line_ending_in_a_backslash_without_tag_pass() {
        assert_eq!(joined(&["qemu: warning \\\r\n"]), "qemu: warning \\\r\n");
    }
}
