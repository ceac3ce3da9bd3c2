//! Printing a rotation's progress as it happens: one plain line per timeline entry, so the
//! output reads the same on a terminal and in a CI log.

use crate::core::Rotation;
use std::io::Write;

/// Prints the timeline entries added since `printed`, returns the new count.
pub fn print_new_entries(rotation: &Rotation, printed: usize, started: chrono::DateTime<chrono::Utc>, out: &mut impl Write) -> usize {
    for entry in rotation.timeline.iter().skip(printed) {
        let offset = (entry.at - started).num_milliseconds() as f64 / 1000.0;
        let _ = writeln!(out, "  +{offset:>6.2}s  {:<20} {}", entry.phase, entry.what);
    }
    rotation.timeline.len()
}
