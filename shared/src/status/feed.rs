//! Activity-feed rules of seed 000 §4.5: which per-date lines the feed shows.

/// Date milestones always shown besides every 5th date and the last.
pub const DATE_MILESTONES: [usize; 6] = [1, 50, 100, 150, 200, 250];

/// True when date number `i` (1-based) of `n` belongs in the feed: every 5th date, the
/// milestones 1, 50, 100, 150, 200, 250, and the last. The others are debug entries.
pub fn is_date_in_feed(i: usize, n: usize) -> bool {
    i == n || i.is_multiple_of(5) || DATE_MILESTONES.contains(&i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_fifth_date_milestones_and_the_last_are_shown() {
        let shown: Vec<usize> = (1..=12).filter(|&i| is_date_in_feed(i, 12)).collect();
        assert_eq!(shown, vec![1, 5, 10, 12]);
        assert!(is_date_in_feed(250, 300));
        assert!(!is_date_in_feed(251, 300));
        assert!(is_date_in_feed(300, 300));
    }
}
