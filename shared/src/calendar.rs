//! NYSE trading calendar implemented from our own rules.
//!
//! Third-party calendar crates we evaluated get several NYSE rules wrong
//! (New Year's Day falling on a Saturday, Juneteenth's start year, the
//! special closures), so the rules live here, in one place, and are tested
//! against known trading-day counts.
//!
//! # Rules
//!
//! * Saturdays and Sundays are closed.
//! * Full-day holidays:
//!   * New Year's Day, 1 January. A Sunday New Year is observed on Monday
//!     2 January; a Saturday New Year is **not** observed (the market is open
//!     on Friday 31 December).
//!   * Martin Luther King Jr. Day, third Monday of January, from 1998.
//!   * Washington's Birthday (Presidents Day), third Monday of February.
//!   * Good Friday, two days before Easter Sunday (anonymous Gregorian
//!     algorithm).
//!   * Memorial Day, last Monday of May.
//!   * Juneteenth, 19 June, from 2022.
//!   * Independence Day, 4 July.
//!   * Labor Day, first Monday of September.
//!   * Thanksgiving Day, fourth Thursday of November.
//!   * Christmas Day, 25 December.
//!
//!   Fixed-date holidays other than New Year's Day that fall on a Saturday are
//!   observed on the preceding Friday; on a Sunday, on the following Monday.
//! * Special closures: 2001-09-11 to 2001-09-14 (September 11 attacks),
//!   2004-06-11 (Reagan), 2007-01-02 (Ford), 2012-10-29 and 2012-10-30
//!   (Hurricane Sandy), 2018-12-05 (George H. W. Bush), 2025-01-09 (Carter).
//!
//! Early closes (half days) are ignored: they are trading days. The rules are
//! intended for 1995 onwards (the synthetic market's history start); earlier
//! one-off closures are not modelled.

use chrono::{DateTime, Datelike, NaiveDate, NaiveTime, Utc, Weekday};
use chrono_tz::America::New_York;

/// Builds a date at compile time; an invalid literal fails the build.
const fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    match NaiveDate::from_ymd_opt(y, m, d) {
        Some(date) => date,
        None => panic!("invalid date literal"),
    }
}

/// One-off full-day closures (not recurring holidays), with their names.
const SPECIAL_CLOSURES: [(NaiveDate, &str); 10] = [
    (ymd(2001, 9, 11), "September 11 attacks"),
    (ymd(2001, 9, 12), "September 11 attacks"),
    (ymd(2001, 9, 13), "September 11 attacks"),
    (ymd(2001, 9, 14), "September 11 attacks"),
    (
        ymd(2004, 6, 11),
        "National Day of Mourning for Ronald Reagan",
    ),
    (ymd(2007, 1, 2), "National Day of Mourning for Gerald Ford"),
    (ymd(2012, 10, 29), "Hurricane Sandy"),
    (ymd(2012, 10, 30), "Hurricane Sandy"),
    (
        ymd(2018, 12, 5),
        "National Day of Mourning for George H. W. Bush",
    ),
    (ymd(2025, 1, 9), "National Day of Mourning for Jimmy Carter"),
];

/// New York wall-clock time after which the day's closing prices are taken
/// as final.
const SETTLE_TIME: NaiveTime = match NaiveTime::from_hms_opt(16, 30, 0) {
    Some(t) => t,
    None => panic!("invalid time literal"),
};

fn is_weekend(d: NaiveDate) -> bool {
    matches!(d.weekday(), Weekday::Sat | Weekday::Sun)
}

/// Easter Sunday of year `y` (anonymous Gregorian algorithm).
fn easter_sunday(y: i32) -> Option<NaiveDate> {
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(y, u32::try_from(month).ok()?, u32::try_from(day).ok()?)
}

/// Whether `d` is the observed date of the fixed-date holiday `month`/`day`
/// (Saturday → preceding Friday, Sunday → following Monday).
fn is_observed_fixed(d: NaiveDate, month: u32, day: u32) -> bool {
    let Some(actual) = NaiveDate::from_ymd_opt(d.year(), month, day) else {
        return false;
    };
    let observed = match actual.weekday() {
        Weekday::Sat => actual.pred_opt(),
        Weekday::Sun => actual.succ_opt(),
        _ => Some(actual),
    };
    observed == Some(d)
}

/// Whether `d` is the `n`-th (1-based) `weekday` of its month.
fn is_nth_weekday(d: NaiveDate, weekday: Weekday, n: u32) -> bool {
    d.weekday() == weekday && (d.day() - 1) / 7 + 1 == n
}

/// Whether `d` is the last `weekday` of its month.
fn is_last_weekday(d: NaiveDate, weekday: Weekday) -> bool {
    d.weekday() == weekday
        && d.checked_add_days(chrono::Days::new(7))
            .is_none_or(|next| next.month() != d.month())
}

/// The name of the holiday or special closure that closes the NYSE on `d`.
///
/// Returns `None` on trading days and on ordinary weekends (a holiday that
/// falls on a weekend is reported on its observed weekday, if any). For
/// example `2022-06-20` → `Some("Juneteenth National Independence Day")`,
/// `2022-06-19` (a Sunday) → `None`.
pub fn holiday_name(d: NaiveDate) -> Option<&'static str> {
    if is_weekend(d) {
        return None;
    }
    if let Some((_, name)) = SPECIAL_CLOSURES.iter().find(|(date, _)| *date == d) {
        return Some(name);
    }
    let year = d.year();
    let (month, day, wd) = (d.month(), d.day(), d.weekday());

    // New Year's Day: Jan 1 on a weekday, or Monday Jan 2 when Jan 1 is a
    // Sunday. A Saturday New Year is not observed on Dec 31.
    if month == 1 && (day == 1 || (day == 2 && wd == Weekday::Mon)) {
        return Some("New Year's Day");
    }
    if year >= 1998 && month == 1 && is_nth_weekday(d, Weekday::Mon, 3) {
        return Some("Martin Luther King Jr. Day");
    }
    if month == 2 && is_nth_weekday(d, Weekday::Mon, 3) {
        return Some("Washington's Birthday");
    }
    if wd == Weekday::Fri
        && easter_sunday(year)
            .and_then(|e| e.checked_sub_days(chrono::Days::new(2)))
            .is_some_and(|gf| gf == d)
    {
        return Some("Good Friday");
    }
    if month == 5 && is_last_weekday(d, Weekday::Mon) {
        return Some("Memorial Day");
    }
    if year >= 2022 && is_observed_fixed(d, 6, 19) {
        return Some("Juneteenth National Independence Day");
    }
    if is_observed_fixed(d, 7, 4) {
        return Some("Independence Day");
    }
    if month == 9 && is_nth_weekday(d, Weekday::Mon, 1) {
        return Some("Labor Day");
    }
    if month == 11 && is_nth_weekday(d, Weekday::Thu, 4) {
        return Some("Thanksgiving Day");
    }
    if is_observed_fixed(d, 12, 25) {
        return Some("Christmas Day");
    }
    None
}

/// Whether the NYSE holds a (full or early-close) session on `d`.
pub fn is_trading_day(d: NaiveDate) -> bool {
    !is_weekend(d) && holiday_name(d).is_none()
}

/// All trading days from `start` to `end`, both inclusive, ascending.
///
/// Empty when `start > end`.
pub fn trading_days(start: NaiveDate, end: NaiveDate) -> Vec<NaiveDate> {
    start
        .iter_days()
        .take_while(|d| *d <= end)
        .filter(|d| is_trading_day(*d))
        .collect()
}

/// The last trading day strictly before `d`.
///
/// Saturates at the earliest date chrono can represent (never reached in
/// practice).
pub fn previous_trading_day(d: NaiveDate) -> NaiveDate {
    let mut cur = d;
    while let Some(prev) = cur.pred_opt() {
        cur = prev;
        if is_trading_day(cur) {
            return cur;
        }
    }
    cur
}

/// The first trading day strictly after `d`.
///
/// Saturates at the latest date chrono can represent (never reached in
/// practice).
pub fn next_trading_day(d: NaiveDate) -> NaiveDate {
    let mut cur = d;
    while let Some(next) = cur.succ_opt() {
        cur = next;
        if is_trading_day(cur) {
            return cur;
        }
    }
    cur
}

/// The most recent trading day whose closing prices are final at `now`.
///
/// That is today's date in New York if it is a trading day and the New York
/// wall-clock time is 16:30 or later; otherwise the previous trading day.
pub fn last_trading_day(now: DateTime<Utc>) -> NaiveDate {
    let ny = now.with_timezone(&New_York);
    let today = ny.date_naive();
    if is_trading_day(today) && ny.time() >= SETTLE_TIME {
        today
    } else {
        previous_trading_day(today)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        ymd(y, m, day)
    }

    fn count(year: i32) -> usize {
        trading_days(d(year, 1, 1), d(year, 12, 31)).len()
    }

    #[test]
    fn carter_day_of_mourning_closed() {
        assert!(!is_trading_day(d(2025, 1, 9)));
        assert_eq!(
            holiday_name(d(2025, 1, 9)),
            Some("National Day of Mourning for Jimmy Carter")
        );
    }

    #[test]
    fn juneteenth_observed_and_start_year() {
        assert!(!is_trading_day(d(2022, 6, 20)));
        assert_eq!(
            holiday_name(d(2022, 6, 20)),
            Some("Juneteenth National Independence Day")
        );
        // 2021: June 19 was a Saturday and Juneteenth not yet an NYSE holiday.
        assert!(is_trading_day(d(2021, 6, 18)));
        assert!(!is_trading_day(d(2023, 6, 19)));
        assert!(!is_trading_day(d(2024, 6, 19)));
        assert!(!is_trading_day(d(2025, 6, 19)));
    }

    #[test]
    fn saturday_new_year_not_observed() {
        assert!(is_trading_day(d(2021, 12, 31)));
        assert!(is_trading_day(d(2010, 12, 31)));
        assert!(is_trading_day(d(2022, 1, 3)));
        // Sunday New Year observed Monday.
        assert!(!is_trading_day(d(2017, 1, 2)));
        assert!(!is_trading_day(d(2023, 1, 2)));
    }

    #[test]
    fn annual_trading_day_counts() {
        assert_eq!(count(2024), 252);
        assert_eq!(count(2023), 250);
        assert_eq!(count(2022), 251);
        assert_eq!(count(2021), 252);
        assert_eq!(count(2019), 252);
        assert_eq!(count(2012), 250);
        assert_eq!(count(2001), 248);
    }

    #[test]
    fn good_friday() {
        assert!(!is_trading_day(d(2024, 3, 29)));
        assert_eq!(holiday_name(d(2024, 3, 29)), Some("Good Friday"));
        assert!(!is_trading_day(d(2025, 4, 18)));
        assert!(!is_trading_day(d(2019, 4, 19)));
        assert!(!is_trading_day(d(2000, 4, 21)));
        assert_eq!(easter_sunday(2024), Some(d(2024, 3, 31)));
        assert_eq!(easter_sunday(2038), Some(d(2038, 4, 25)));
        assert_eq!(easter_sunday(2008), Some(d(2008, 3, 23)));
    }

    #[test]
    fn fixed_holidays_observed() {
        assert!(!is_trading_day(d(2020, 7, 3)));
        assert_eq!(holiday_name(d(2020, 7, 3)), Some("Independence Day"));
        assert!(!is_trading_day(d(2021, 7, 5)));
        assert!(!is_trading_day(d(2021, 12, 24)));
        assert!(!is_trading_day(d(2022, 12, 26)));
        assert!(is_trading_day(d(2024, 12, 24)));
    }

    #[test]
    fn monday_and_thursday_holidays() {
        assert!(!is_trading_day(d(2024, 1, 15))); // MLK
        assert!(is_trading_day(d(1997, 1, 20))); // MLK before 1998: open
        assert!(!is_trading_day(d(1998, 1, 19)));
        assert!(!is_trading_day(d(2024, 2, 19))); // Presidents
        assert!(!is_trading_day(d(2024, 5, 27))); // Memorial
        assert!(is_trading_day(d(2024, 5, 20)));
        assert!(!is_trading_day(d(2024, 9, 2))); // Labor
        assert!(!is_trading_day(d(2024, 11, 28))); // Thanksgiving
        assert!(is_trading_day(d(2024, 11, 29)));
    }

    #[test]
    fn special_closures() {
        for day in 11..=14 {
            assert!(!is_trading_day(d(2001, 9, day)));
        }
        assert!(is_trading_day(d(2001, 9, 17)));
        for date in [
            d(2004, 6, 11),
            d(2007, 1, 2),
            d(2012, 10, 29),
            d(2012, 10, 30),
            d(2018, 12, 5),
        ] {
            assert!(!is_trading_day(date), "{date}");
            assert!(holiday_name(date).is_some());
        }
    }

    #[test]
    fn weekends_closed() {
        assert!(!is_trading_day(d(2024, 6, 8)));
        assert!(!is_trading_day(d(2024, 6, 9)));
        assert_eq!(holiday_name(d(2024, 6, 8)), None);
        assert!(is_trading_day(d(2024, 6, 10)));
    }

    #[test]
    fn trading_days_range() {
        assert!(trading_days(d(2024, 1, 5), d(2024, 1, 4)).is_empty());
        assert_eq!(trading_days(d(2024, 1, 6), d(2024, 1, 6)), vec![]);
        assert_eq!(
            trading_days(d(2024, 1, 5), d(2024, 1, 9)),
            vec![d(2024, 1, 5), d(2024, 1, 8), d(2024, 1, 9)]
        );
    }

    #[test]
    fn previous_and_next() {
        assert_eq!(previous_trading_day(d(2024, 4, 1)), d(2024, 3, 28));
        assert_eq!(next_trading_day(d(2024, 3, 28)), d(2024, 4, 1));
        assert_eq!(previous_trading_day(d(2024, 6, 11)), d(2024, 6, 10));
        assert_eq!(next_trading_day(d(2024, 12, 31)), d(2025, 1, 2));
        assert_eq!(previous_trading_day(d(2025, 1, 10)), d(2025, 1, 8));
    }

    #[test]
    fn last_trading_day_cutoff() {
        // Wednesday 2024-06-12; EDT = UTC-4, so 16:30 NY = 20:30 UTC.
        let before = Utc.with_ymd_and_hms(2024, 6, 12, 20, 29, 0).single();
        let at = Utc.with_ymd_and_hms(2024, 6, 12, 20, 30, 0).single();
        let after = Utc.with_ymd_and_hms(2024, 6, 12, 23, 0, 0).single();
        assert_eq!(before.map(last_trading_day), Some(d(2024, 6, 11)));
        assert_eq!(at.map(last_trading_day), Some(d(2024, 6, 12)));
        assert_eq!(after.map(last_trading_day), Some(d(2024, 6, 12)));
        // 02:00 UTC Thursday is still Wednesday evening in New York.
        let late = Utc.with_ymd_and_hms(2024, 6, 13, 2, 0, 0).single();
        assert_eq!(late.map(last_trading_day), Some(d(2024, 6, 12)));
        // Winter (EST = UTC-5): 21:31 UTC = 16:31 NY.
        let winter = Utc.with_ymd_and_hms(2024, 1, 10, 21, 31, 0).single();
        assert_eq!(winter.map(last_trading_day), Some(d(2024, 1, 10)));
        let winter_before = Utc.with_ymd_and_hms(2024, 1, 10, 21, 0, 0).single();
        assert_eq!(winter_before.map(last_trading_day), Some(d(2024, 1, 9)));
    }

    #[test]
    fn last_trading_day_weekend_and_holiday() {
        // Saturday evening → Friday.
        let sat = Utc.with_ymd_and_hms(2024, 6, 15, 23, 0, 0).single();
        assert_eq!(sat.map(last_trading_day), Some(d(2024, 6, 14)));
        // Monday morning → Friday.
        let mon = Utc.with_ymd_and_hms(2024, 6, 17, 13, 0, 0).single();
        assert_eq!(mon.map(last_trading_day), Some(d(2024, 6, 14)));
        // Good Friday evening → Thursday.
        let gf = Utc.with_ymd_and_hms(2024, 3, 29, 22, 0, 0).single();
        assert_eq!(gf.map(last_trading_day), Some(d(2024, 3, 28)));
        // Carter closure evening → Wednesday 2025-01-08.
        let carter = Utc.with_ymd_and_hms(2025, 1, 9, 23, 0, 0).single();
        assert_eq!(carter.map(last_trading_day), Some(d(2025, 1, 8)));
    }
}
