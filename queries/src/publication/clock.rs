//! How far this process's clock is from the bucket's, as the writes of its leases show it.
//!
//! Publishers judge a lease's expiry by their own clocks (docs/publication.md, "One
//! publisher at a time"), so two clocks that disagree make a lease shorter in one's eyes
//! than in the other's. The bucket is the clock they all share: the store stamps every
//! object it stores with its own time (S3's `Last-Modified`, to the second; a folder's
//! modification time). A holder knows when, by its clock, it sent the write of its lease
//! and when the answer came; the next listing of the lease says when, by the bucket's clock,
//! it was stored. That bounds the difference between the two clocks, with no extra call;
//! the bound nearest zero is what is reported, so a report never overstates it.

use std::sync::atomic::{AtomicBool, Ordering};

use chrono::{DateTime, Utc};
use tracing::warn;

/// A stamp may be rounded down to the second (S3's are).
const STAMP_ROUNDING_MS: i64 = 1000;

/// Clocks kept by NTP agree within milliseconds; seconds mean a clock nobody keeps.
pub const WARN_FROM_MS: i64 = 2000;

static WARNED: AtomicBool = AtomicBool::new(false);

/// When, by this process's clock, a write of a lease was sent and answered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Written {
    pub sent_ms: u64,
    pub answered_ms: u64,
}

/// The least the bucket's clock can be ahead of this process's (negative: behind), in
/// milliseconds, for a write made within `written` by this clock and stamped `stamped_ms`
/// by the bucket's; 0 when the two may agree. The write was stored at some instant between
/// its sending and its answer, which the bucket stamped at most [`STAMP_ROUNDING_MS`] early.
pub fn least_offset_ms(written: Written, stamped_ms: i64) -> i64 {
    let low = stamped_ms - written.answered_ms as i64;
    let high = stamped_ms + STAMP_ROUNDING_MS - written.sent_ms as i64;
    if low > 0 {
        low
    } else if high < 0 {
        high
    } else {
        0
    }
}

/// Notes the bucket's stamp on the lease written within `written`: the offset goes to the
/// metric `bydelsfakta_bucket_clock_offset_seconds`, and the first one of
/// [`WARN_FROM_MS`] or more to the log.
pub fn observe(prefix: &str, written: Written, stamped: DateTime<Utc>) {
    let offset_ms = least_offset_ms(written, stamped.timestamp_millis());
    crate::metrics::bucket_clock_offset(offset_ms as f64 / 1000.0);
    if offset_ms.abs() >= WARN_FROM_MS && !WARNED.swap(true, Ordering::Relaxed) {
        let (seconds, way) = (
            offset_ms.abs() as f64 / 1000.0,
            match offset_ms > 0 {
                true => "behind",
                false => "ahead of",
            },
        );
        warn!(
            prefix,
            offset_ms,
            "this process's clock is at least {seconds:.1} s {way} the bucket's (the time \
             stamp of its lease): publishers judge a lease by their own clocks, so keep their \
             clocks synchronised (NTP) or raise the lease (docs/publication.md)"
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SENT: u64 = 1_796_342_400_000;

    fn written(took_ms: u64) -> Written {
        Written {
            sent_ms: SENT,
            answered_ms: SENT + took_ms,
        }
    }

    #[test]
    fn clocks_that_may_agree_differ_by_nothing() {
        // Stamped within the call, to the millisecond (a folder) or rounded down (S3).
        for stamped in [SENT + 20, SENT - 999, SENT + 40] {
            assert_eq!(least_offset_ms(written(40), stamped as i64), 0, "{stamped}");
        }
    }

    #[test]
    fn a_bucket_ahead_or_behind_is_bounded_by_the_call_and_the_rounding() {
        // 30 s ahead: at least 30 s less the call's 40 ms.
        assert_eq!(least_offset_ms(written(40), (SENT + 30_000) as i64), 29_960);
        // 30 s behind: at least 30 s less the rounding.
        assert_eq!(least_offset_ms(written(40), SENT as i64 - 30_000), -29_000);
    }
}
