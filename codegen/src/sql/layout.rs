//! Line breaks for statements the skeletons cannot bound: a wide table's column lists. Only
//! whitespace changes (a space becomes a line break), and never inside a quoted name or literal.

/// Longest line a statement keeps.
pub(crate) const WIDTH: usize = 100;

/// Longest first line: the generated file prints it after `describe_rejects: r#"`, and the
/// statement's other lines from column 0, so every line of the file stays within 120 columns.
pub(crate) const FIRST_WIDTH: usize = 90;

/// Extra indentation of the lines a long line is broken into.
const CONTINUATION: usize = 4;

/// The statement with every long line broken after a `, `, before an ` AND `, or else at a space.
pub(crate) fn fit(sql: String) -> String {
    let mut lines = sql.split('\n');
    let first = lines.next().unwrap_or_default();
    if first.len() <= FIRST_WIDTH && lines.clone().all(|l| l.len() <= WIDTH) {
        return sql;
    }
    std::iter::once(fit_line(first, FIRST_WIDTH))
        .chain(lines.map(|l| fit_line(l, WIDTH)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn fit_line(line: &str, width: usize) -> String {
    let indent = " ".repeat(line.len() - line.trim_start().len() + CONTINUATION);
    let mut out = String::new();
    let mut rest = line;
    let mut room = width;
    while rest.len() > room {
        // A line that cannot be broken stays long rather than change meaning.
        let Some((end, resume)) = last_break(rest, room) else { break };
        out.push_str(&rest[..end]);
        out.push('\n');
        out.push_str(&indent);
        rest = &rest[resume..];
        room = WIDTH - indent.len();
    }
    out.push_str(rest);
    out
}

/// The last place within `room` bytes to break `text`, outside quotes and after its indentation,
/// as `(end of this line, start of the next)`: after a `, ` or before an ` AND ` when one falls in
/// the second half of the room, else at the last space.
fn last_break(text: &str, room: usize) -> Option<(usize, usize)> {
    let start = text.len() - text.trim_start().len();
    let mut quote: Option<u8> = None;
    let (mut preferred, mut any) = (None, None);
    for (i, &b) in text.as_bytes().iter().enumerate().skip(start) {
        match quote {
            // A doubled quote closes and reopens: the same state either way.
            Some(q) if b == q => quote = None,
            Some(_) => {}
            None if b == b'\'' || b == b'"' => quote = Some(b),
            None if b == b' ' && i <= room => {
                any = Some((i, i + 1));
                if text[i..].starts_with(" AND ") || text[..i].ends_with(',') {
                    preferred = Some((i, i + 1));
                }
            }
            None => {}
        }
    }
    match preferred {
        Some((end, _)) if end >= room / 2 => preferred,
        _ => any.or(preferred),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn breaks_only_outside_quotes_and_only_whitespace() {
        let cols: Vec<String> = (0..30).map(|i| format!("\"col, {i}\"")).collect();
        let line = format!("SELECT {}, ', , , ' FROM x", cols.join(", "));
        let fitted = fit(line.clone());
        assert!(fitted.lines().all(|l| l.len() <= WIDTH), "{fitted}");
        assert!(fitted.lines().next().is_some_and(|l| l.len() <= FIRST_WIDTH), "{fitted}");
        let squash = |s: &str| s.split_whitespace().collect::<Vec<_>>().join(" ");
        assert_eq!(squash(&fitted), squash(&line));
        assert!(fitted.lines().all(|l| l.matches('"').count() % 2 == 0), "{fitted}");
    }
}
