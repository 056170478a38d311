//! `run --every --between`: the hours (and days) in which passes start, on this machine's local
//! time (pgbisync runs beside the desktop database, so it is the desktop's time). A pass that starts
//! inside a window runs to its end; outside every window the run waits for the next one to open,
//! unless a manual trigger asks for a pass.

use std::fmt;

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveTime, TimeZone, Timelike, Weekday};

/// One `--between` value: `[DAYS ]HH:MM-HH:MM`, e.g. `08:00-20:00`, `Mon-Fri 08:00-18:30`,
/// `Sat,Sun 10:00-14:00`, or across midnight `22:00-06:00` (the days are the ones it opens on).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Window {
    /// Monday = index 0; all true when no days are given.
    days: [bool; 7],
    from: NaiveTime,
    to: NaiveTime,
    text: String,
}

/// Every `--between` given: a pass may start when any of them is open.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Schedule {
    windows: Vec<Window>,
}

/// Where a moment falls in the schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Now<Tz: TimeZone> {
    /// No `--between`: passes start at any time.
    Always,
    /// Inside a window, open since this moment.
    Open { since: DateTime<Tz> },
    /// Outside every window; the next opens at this moment.
    Closed { opens: DateTime<Tz> },
}

impl Schedule {
    pub fn new(windows: Vec<Window>) -> Schedule {
        Schedule { windows }
    }

    pub fn is_always(&self) -> bool {
        self.windows.is_empty()
    }

    /// Where `now` falls: in which window since when, or when the next one opens.
    pub fn at<Tz: TimeZone>(&self, now: &DateTime<Tz>) -> Now<Tz>
    where
        Tz::Offset: Copy,
    {
        if self.windows.is_empty() {
            return Now::Always;
        }
        // Occurrences from yesterday (a window across midnight still open) to a week ahead.
        let mut open: Option<DateTime<Tz>> = None;
        let mut next: Option<DateTime<Tz>> = None;
        for w in &self.windows {
            for offset in -1..=7 {
                let day = now.date_naive() + Duration::days(offset);
                let Some((start, end)) = w.occurrence(&now.timezone(), day) else { continue };
                if start <= *now && *now < end {
                    open = Some(open.map_or(start, |o: DateTime<Tz>| o.min(start)));
                } else if start > *now {
                    next = Some(next.map_or(start, |n: DateTime<Tz>| n.min(start)));
                }
            }
        }
        match (open, next) {
            (Some(since), _) => Now::Open { since },
            (None, Some(opens)) => Now::Closed { opens },
            // Every window names days and none falls within the week: cannot happen, as a window
            // has at least one day; treat it as closed for a day to be safe.
            (None, None) => Now::Closed { opens: *now + Duration::days(1) },
        }
    }
}

impl fmt::Display for Schedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let texts: Vec<&str> = self.windows.iter().map(|w| w.text.as_str()).collect();
        f.write_str(&texts.join(", "))
    }
}

impl Window {
    /// The window's opening on `day`, as local moments, when it opens that day. A local time that
    /// does not exist (a daylight-saving gap) moves to the first moment after it.
    fn occurrence<Tz: TimeZone>(&self, tz: &Tz, day: NaiveDate) -> Option<(DateTime<Tz>, DateTime<Tz>)> {
        if !self.days[day.weekday().num_days_from_monday() as usize] {
            return None;
        }
        let end_day = if self.to <= self.from { day + Duration::days(1) } else { day };
        Some((local(tz, day, self.from), local(tz, end_day, self.to)))
    }
}

fn local<Tz: TimeZone>(tz: &Tz, day: NaiveDate, time: NaiveTime) -> DateTime<Tz> {
    let naive = day.and_time(time);
    tz.from_local_datetime(&naive)
        .earliest()
        .or_else(|| tz.from_local_datetime(&(naive + Duration::hours(1))).earliest())
        .unwrap_or_else(|| tz.from_utc_datetime(&naive))
}

/// Parses one `--between` value.
pub fn parse_window(s: &str) -> Result<Window, String> {
    let text = s.trim();
    let example = "such as 08:00-20:00, Mon-Fri 08:00-18:30 or Sat,Sun 10:00-14:00";
    let (days, hours) = match text.rsplit_once(char::is_whitespace) {
        Some((days, hours)) => (parse_days(days.trim()).map_err(|e| format!("`{text}`: {e}"))?, hours),
        None => ([true; 7], text),
    };
    let (from, to) = hours.split_once('-').ok_or_else(|| format!("`{text}` is not a window {example}"))?;
    let time = |t: &str| {
        NaiveTime::parse_from_str(t.trim(), "%H:%M")
            .map_err(|_| format!("`{t}` in `{text}` is not a time of day as HH:MM (24-hour), {example}"))
    };
    let (from, to) = (time(from)?, time(to)?);
    if from == to {
        return Err(format!("`{text}` opens and closes at the same time; leave --between out to sync at any hour"));
    }
    Ok(Window { days, from, to, text: text.to_string() })
}

/// `Mon-Fri`, `Sat,Sun`, `Mon,Wed-Fri`: which days a window opens on.
fn parse_days(s: &str) -> Result<[bool; 7], String> {
    let mut days = [false; 7];
    for part in s.split(',') {
        let (first, last) = match part.split_once('-') {
            Some((a, b)) => (weekday(a)?, weekday(b)?),
            None => (weekday(part)?, weekday(part)?),
        };
        let mut d = first;
        loop {
            days[d.num_days_from_monday() as usize] = true;
            if d == last {
                break;
            }
            d = d.succ();
        }
    }
    Ok(days)
}

fn weekday(s: &str) -> Result<Weekday, String> {
    s.trim().parse::<Weekday>().map_err(|_| format!("`{}` is not a day (Mon, Tue, Wed, Thu, Fri, Sat, Sun)", s.trim()))
}

/// How a moment reads in a log line: local time to the minute.
pub fn describe<Tz: TimeZone>(t: &DateTime<Tz>) -> String
where
    Tz::Offset: fmt::Display,
{
    format!("{} {:02}:{:02}", t.format("%a %Y-%m-%d"), t.hour(), t.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::FixedOffset;

    fn at(s: &str) -> DateTime<FixedOffset> {
        DateTime::parse_from_rfc3339(s).unwrap()
    }

    fn schedule(windows: &[&str]) -> Schedule {
        Schedule::new(windows.iter().map(|w| parse_window(w).unwrap()).collect())
    }

    #[test]
    fn business_hours_are_open_inside_and_name_the_next_opening_outside() {
        let s = schedule(&["08:00-20:00"]);
        // 2026-12-03 is a Thursday.
        assert_eq!(s.at(&at("2026-12-03T09:30:00+05:30")), Now::Open { since: at("2026-12-03T08:00:00+05:30") });
        assert_eq!(s.at(&at("2026-12-03T20:00:00+05:30")), Now::Closed { opens: at("2026-12-04T08:00:00+05:30") });
        assert_eq!(s.at(&at("2026-12-03T07:59:00+05:30")), Now::Closed { opens: at("2026-12-03T08:00:00+05:30") });
        assert_eq!(Schedule::default().at(&at("2026-12-03T03:00:00+05:30")), Now::Always);
    }

    #[test]
    fn a_window_across_midnight_stays_open_after_it() {
        let s = schedule(&["22:00-06:00"]);
        assert_eq!(s.at(&at("2026-12-04T02:00:00+00:00")), Now::Open { since: at("2026-12-03T22:00:00+00:00") });
        assert_eq!(s.at(&at("2026-12-04T12:00:00+00:00")), Now::Closed { opens: at("2026-12-04T22:00:00+00:00") });
    }

    #[test]
    fn weekdays_skip_the_weekend() {
        let s = schedule(&["Mon-Fri 08:00-18:30"]);
        // Friday evening: the next opening is Monday morning.
        assert_eq!(s.at(&at("2026-12-04T19:00:00+00:00")), Now::Closed { opens: at("2026-12-07T08:00:00+00:00") });
        assert!(matches!(s.at(&at("2026-12-07T18:29:00+00:00")), Now::Open { .. }));
        let weekend = schedule(&["Mon-Fri 08:00-18:30", "Sat,Sun 10:00-14:00"]);
        assert_eq!(
            weekend.at(&at("2026-12-04T19:00:00+00:00")),
            Now::Closed { opens: at("2026-12-05T10:00:00+00:00") }
        );
        assert_eq!(weekend.to_string(), "Mon-Fri 08:00-18:30, Sat,Sun 10:00-14:00");
    }

    #[test]
    fn bad_windows_say_what_is_expected() {
        assert!(parse_window("8-20").unwrap_err().contains("HH:MM"));
        assert!(parse_window("08:00").unwrap_err().contains("08:00-20:00"));
        assert!(parse_window("Mon-Fry 08:00-20:00").unwrap_err().contains("`Fry` is not a day"));
        assert!(parse_window("09:00-09:00").unwrap_err().contains("same time"));
        assert!(parse_window("25:00-26:00").is_err());
        assert_eq!(parse_window(" Fri-Mon 08:00-09:00").unwrap().days, [true, false, false, false, true, true, true]);
    }
}
