//! Activity-feed rules of seed 000 §4.5: which per-date lines the feed shows, and consecutive
//! duplicates collapsed (feed and download).

use crate::db::activity::Entry;

/// Date milestones always shown besides every 5th date and the last.
pub const DATE_MILESTONES: [usize; 6] = [1, 50, 100, 150, 200, 250];

/// True when date number `i` (1-based) of `n` belongs in the feed: every 5th date, the
/// milestones 1, 50, 100, 150, 200, 250, and the last. The others are debug entries.
pub fn is_date_in_feed(i: usize, n: usize) -> bool {
    i == n || i.is_multiple_of(5) || DATE_MILESTONES.contains(&i)
}

/// Drops an entry that repeats the previous one's level and message (same attempt), keeping
/// the first: seed 000 §4.5 "duplicate consecutive messages" are hidden.
pub fn collapse_duplicates(entries: Vec<Entry>) -> Vec<Entry> {
    let mut out: Vec<Entry> = Vec::with_capacity(entries.len());
    for e in entries {
        let repeat = out.last().is_some_and(|p| {
            p.message == e.message && p.level == e.level && p.attempt == e.attempt
        });
        if !repeat {
            out.push(e);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(id: i64, attempt: i32, message: &str) -> Entry {
        Entry {
            id,
            run_id: uuid::Uuid::nil(),
            attempt,
            ts: chrono::DateTime::default(),
            level: crate::domain::ActivityLevel::Info,
            phase_id: None,
            message: message.into(),
            debug: false,
        }
    }

    #[test]
    fn consecutive_duplicates_collapse_but_repeats_later_stay() {
        let got = collapse_duplicates(vec![
            entry(1, 1, "a"),
            entry(2, 1, "a"),
            entry(3, 1, "b"),
            entry(4, 1, "a"),
            entry(5, 2, "a"),
        ]);
        let ids: Vec<i64> = got.iter().map(|e| e.id).collect();
        assert_eq!(ids, vec![1, 3, 4, 5]);
    }

    #[test]
    fn every_fifth_date_milestones_and_the_last_are_shown() {
        let shown: Vec<usize> = (1..=12).filter(|&i| is_date_in_feed(i, 12)).collect();
        assert_eq!(shown, vec![1, 5, 10, 12]);
        assert!(is_date_in_feed(250, 300));
        assert!(!is_date_in_feed(251, 300));
        assert!(is_date_in_feed(300, 300));
    }
}
