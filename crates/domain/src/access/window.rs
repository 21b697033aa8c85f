//! Time windows during which a policy lets its users open lockers.

use time::{OffsetDateTime, UtcOffset, Weekday};

/// Number of minutes in a day; the largest valid window end.
pub const MINUTES_PER_DAY: u16 = 24 * 60;

/// A set of weekdays, stored as one bit per day with Monday as bit 0.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct WeekdaySet(u8);

impl WeekdaySet {
    pub const EMPTY: WeekdaySet = WeekdaySet(0);
    pub const ALL: WeekdaySet = WeekdaySet(0b111_1111);
    pub const WORKDAYS: WeekdaySet = WeekdaySet(0b001_1111);

    pub fn of(days: &[Weekday]) -> WeekdaySet {
        let mut set = WeekdaySet::EMPTY;
        for day in days {
            set = set.with(*day);
        }
        set
    }

    pub fn with(self, day: Weekday) -> WeekdaySet {
        WeekdaySet(self.0 | Self::bit(day))
    }

    pub fn contains(self, day: Weekday) -> bool {
        self.0 & Self::bit(day) != 0
    }

    fn bit(day: Weekday) -> u8 {
        1 << day.number_days_from_monday()
    }
}

/// A weekly window in local time. `start` and `end` are minutes after local
/// midnight. When `end` is not after `start`, the window runs overnight and
/// ends on the day after each listed day, so a night shift is one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TimeWindow {
    /// Days on which the window starts.
    pub days: WeekdaySet,
    pub start: u16,
    /// Exclusive end, at most [`MINUTES_PER_DAY`].
    pub end: u16,
    /// Offset of local time from UTC, in minutes, such as 60 for UTC+01:00.
    pub utc_offset_minutes: i16,
}

/// A time window that cannot match the times its author meant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum WindowError {
    #[error("time window lists no days; add at least one weekday")]
    NoDays,
    #[error("time window start {0} is invalid; use minutes after midnight, 0 to 1439")]
    InvalidStart(u16),
    #[error("time window end {0} is invalid; use minutes after midnight, 0 to 1440")]
    InvalidEnd(u16),
    #[error("UTC offset of {0} minutes is invalid; use -1559 to 1559")]
    InvalidOffset(i16),
}

impl TimeWindow {
    /// Checks the window before a policy containing it is saved.
    /// [`TimeWindow::contains`] does not check, so an unchecked bad window
    /// may match never or at unexpected times.
    pub fn validate(&self) -> Result<(), WindowError> {
        if self.days == WeekdaySet::EMPTY {
            return Err(WindowError::NoDays);
        }
        if self.start >= MINUTES_PER_DAY {
            return Err(WindowError::InvalidStart(self.start));
        }
        if self.end > MINUTES_PER_DAY {
            return Err(WindowError::InvalidEnd(self.end));
        }
        // `time` accepts offsets strictly below 26 hours.
        if self.utc_offset_minutes.unsigned_abs() >= 26 * 60 {
            return Err(WindowError::InvalidOffset(self.utc_offset_minutes));
        }
        Ok(())
    }

    /// Returns whether `at` falls inside the window. A window with an offset
    /// that `time` cannot represent never matches, so a bad policy denies
    /// instead of allowing at the wrong hours.
    pub fn contains(&self, at: OffsetDateTime) -> bool {
        let seconds = i32::from(self.utc_offset_minutes) * 60;
        let Ok(offset) = UtcOffset::from_whole_seconds(seconds) else {
            return false;
        };
        let local = at.to_offset(offset);
        let minute = u16::from(local.hour()) * 60 + u16::from(local.minute());
        let today = local.weekday();

        if self.start < self.end {
            return self.days.contains(today) && minute >= self.start && minute < self.end;
        }

        // Overnight: the evening part belongs to today, and the morning part
        // to a window that started yesterday.
        let evening = self.days.contains(today) && minute >= self.start;
        let morning = self.days.contains(today.previous()) && minute < self.end;
        evening || morning
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn window(days: WeekdaySet, start: u16, end: u16, offset: i16) -> TimeWindow {
        TimeWindow {
            days,
            start,
            end,
            utc_offset_minutes: offset,
        }
    }

    #[test]
    fn day_window_bounds() {
        // 2026-12-07 is a Monday.
        let office = window(WeekdaySet::WORKDAYS, 8 * 60, 18 * 60, 0);
        let cases = [
            (datetime!(2026-12-07 07:59 UTC), false),
            (datetime!(2026-12-07 08:00 UTC), true),
            (datetime!(2026-12-07 17:59 UTC), true),
            (datetime!(2026-12-07 18:00 UTC), false),
            (datetime!(2026-12-12 12:00 UTC), false),
        ];
        for (at, expected) in cases {
            assert_eq!(office.contains(at), expected, "at {at}");
        }
    }

    #[test]
    fn offset_shifts_local_time() {
        // 07:30 UTC is 08:30 at UTC+01:00.
        let office = window(WeekdaySet::WORKDAYS, 8 * 60, 18 * 60, 60);
        assert!(office.contains(datetime!(2026-12-07 07:30 UTC)));
        assert!(!office.contains(datetime!(2026-12-07 17:30 UTC)));
    }

    #[test]
    fn overnight_window_spans_midnight() {
        let night = window(WeekdaySet::of(&[Weekday::Monday]), 22 * 60, 6 * 60, 0);
        assert!(night.contains(datetime!(2026-12-07 23:00 UTC)));
        assert!(night.contains(datetime!(2026-12-08 05:59 UTC)));
        assert!(!night.contains(datetime!(2026-12-08 06:00 UTC)));
        assert!(!night.contains(datetime!(2026-12-07 05:00 UTC)));
    }

    #[test]
    fn validate_rejects_bad_fields() {
        let good = window(WeekdaySet::WORKDAYS, 0, MINUTES_PER_DAY, -300);
        assert_eq!(good.validate(), Ok(()));

        let cases = [
            (window(WeekdaySet::EMPTY, 0, 60, 0), WindowError::NoDays),
            (
                window(WeekdaySet::ALL, MINUTES_PER_DAY, 60, 0),
                WindowError::InvalidStart(MINUTES_PER_DAY),
            ),
            (
                window(WeekdaySet::ALL, 0, MINUTES_PER_DAY + 1, 0),
                WindowError::InvalidEnd(MINUTES_PER_DAY + 1),
            ),
            (
                window(WeekdaySet::ALL, 0, 60, 26 * 60),
                WindowError::InvalidOffset(26 * 60),
            ),
        ];
        for (bad, expected) in cases {
            assert_eq!(bad.validate(), Err(expected), "{bad:?}");
        }
    }

    #[test]
    fn largest_valid_offset_matches() {
        // 25:59 is the largest offset `validate` accepts, so `contains` must
        // still be able to use it.
        let far_east = window(WeekdaySet::ALL, 0, MINUTES_PER_DAY, 26 * 60 - 1);
        assert_eq!(far_east.validate(), Ok(()));
        assert!(far_east.contains(datetime!(2026-12-07 12:00 UTC)));
    }

    #[test]
    fn equal_bounds_span_whole_day() {
        // Start equal to end is an overnight window of 24 hours.
        let shift = window(WeekdaySet::of(&[Weekday::Monday]), 6 * 60, 6 * 60, 0);
        assert!(shift.contains(datetime!(2026-12-07 06:00 UTC)));
        assert!(shift.contains(datetime!(2026-12-08 05:59 UTC)));
        assert!(!shift.contains(datetime!(2026-12-08 06:00 UTC)));
        assert!(!shift.contains(datetime!(2026-12-07 05:59 UTC)));
    }

    #[test]
    fn invalid_offset_never_matches() {
        let broken = window(WeekdaySet::ALL, 0, MINUTES_PER_DAY, i16::MAX);
        assert!(!broken.contains(datetime!(2026-12-07 12:00 UTC)));
    }
}
