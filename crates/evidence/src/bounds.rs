//! Why a configuration was refused: the bounds every library config checks
//! in its own constructor, so no caller (the CLI, a test, another program)
//! can drive a source into a state the command line forbids.
//!
//! The setting is named as the command line spells it (`--max`): that is
//! the name a person reads in the error, and the library documents each
//! field by the flag that sets it.

use std::fmt;

/// A setting of a config outside what its source supports.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    /// Below `low` or above `high`.
    #[error("{setting} must be between {low} and {high}")]
    Between {
        /// The setting, as the command line names it (`--samples`).
        setting: &'static str,
        /// The smallest value allowed, as a person writes it.
        low: Bound,
        /// The largest value allowed.
        high: Bound,
    },
    /// Below `low`.
    #[error("{setting} must be at least {low}")]
    AtLeast {
        /// The setting, as the command line names it.
        setting: &'static str,
        /// The smallest value allowed.
        low: Bound,
    },
    /// Above `high`.
    #[error("{setting} must be at most {high}")]
    AtMost {
        /// The setting, as the command line names it.
        setting: &'static str,
        /// The largest value allowed.
        high: Bound,
    },
    /// Zero (or, for a number, not above zero) where only more makes sense.
    #[error("{setting} must be more than 0")]
    AboveZero {
        /// The setting, as the command line names it.
        setting: &'static str,
    },
    /// A rule that involves more than one bound or setting, said whole
    /// (`--base must be more than 0 and at most --cap`).
    #[error("{setting} {rule}")]
    Rule {
        /// The setting, as the command line names it.
        setting: &'static str,
        /// What it must be, as a sentence that follows the name.
        rule: &'static str,
    },
    /// None of the settings that say what to run was given (`--policy` or
    /// `--base`): `choices` says them as a person would.
    #[error("give {choices}")]
    NoneGiven {
        /// The settings to choose from (`--policy PRESET, or --base DUR`).
        choices: &'static str,
    },
    /// More processes asked for than connections to open (`--procs`).
    #[error("--procs {procs} is more processes than the {connections} connections to open")]
    MoreProcessesThanConnections {
        /// The processes asked for.
        procs: u32,
        /// The connections this run opens.
        connections: u64,
    },
    /// A value that does not read as what the setting takes.
    #[error("'{text}' is not {expected}: {why}")]
    Unreadable {
        /// What was given, escaped for printing.
        text: String,
        /// What it should have been (`an IPv4 address`).
        expected: &'static str,
        /// Why the parser refused it.
        why: String,
    },
}

/// A limit as a person writes it: a count (`1000000`) or a duration (`24h`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bound {
    /// A whole number.
    Count(u64),
    /// A duration, written as `--max 24h` is.
    Time(std::time::Duration),
}

impl fmt::Display for Bound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bound::Count(n) => write!(f, "{n}"),
            Bound::Time(d) => write_flag_duration(f, *d),
        }
    }
}

/// A limit in the unit a person types after a flag (`50ms`, `24h`, `7d`):
/// the largest unit that divides it, hours up to a day. Not
/// [`crate::format_duration`], which writes measurements (`1.0 s`), nor
/// humantime's `1day`: the error must read as the flag is written.
fn write_flag_duration(f: &mut fmt::Formatter<'_>, d: std::time::Duration) -> fmt::Result {
    const DAY: u64 = 86_400;
    let (secs, micros) = (d.as_secs(), d.subsec_micros());
    if micros == 0 && secs > DAY && secs.is_multiple_of(DAY) {
        write!(f, "{}d", secs / DAY)
    } else if micros == 0 && secs > 0 && secs.is_multiple_of(3600) {
        write!(f, "{}h", secs / 3600)
    } else if micros == 0 && secs > 0 && secs.is_multiple_of(60) {
        write!(f, "{}m", secs / 60)
    } else if micros == 0 {
        write!(f, "{secs}s")
    } else if d.as_micros().is_multiple_of(1000) {
        write!(f, "{}ms", d.as_millis())
    } else {
        write!(f, "{}us", d.as_micros())
    }
}

impl From<u64> for Bound {
    fn from(n: u64) -> Self {
        Bound::Count(n)
    }
}

impl From<u32> for Bound {
    fn from(n: u32) -> Self {
        Bound::Count(u64::from(n))
    }
}

impl From<std::time::Duration> for Bound {
    fn from(d: std::time::Duration) -> Self {
        Bound::Time(d)
    }
}

/// `Ok` when `low ≤ value ≤ high`, else [`ConfigError::Between`].
pub fn check_between<T: PartialOrd + Copy + Into<Bound>>(
    setting: &'static str,
    value: T,
    low: T,
    high: T,
) -> Result<(), ConfigError> {
    if value < low || value > high {
        return Err(ConfigError::Between {
            setting,
            low: low.into(),
            high: high.into(),
        });
    }
    Ok(())
}

/// `Ok` when `value ≥ low`, else [`ConfigError::AtLeast`].
pub fn check_at_least<T: PartialOrd + Copy + Into<Bound>>(
    setting: &'static str,
    value: T,
    low: T,
) -> Result<(), ConfigError> {
    if value < low {
        return Err(ConfigError::AtLeast {
            setting,
            low: low.into(),
        });
    }
    Ok(())
}

/// `Ok` when `value ≤ high`, else [`ConfigError::AtMost`].
pub fn check_at_most<T: PartialOrd + Copy + Into<Bound>>(
    setting: &'static str,
    value: T,
    high: T,
) -> Result<(), ConfigError> {
    if value > high {
        return Err(ConfigError::AtMost {
            setting,
            high: high.into(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn messages_read_as_the_command_line_said_them() {
        let e = check_between(
            "--max",
            Duration::from_secs(0),
            Duration::from_secs(1),
            Duration::from_secs(86_400),
        );
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("--max must be between 1s and 24h".to_owned())
        );
        let e = check_at_least(
            "--interval",
            Duration::from_millis(10),
            Duration::from_millis(50),
        );
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("--interval must be at least 50ms".to_owned())
        );
        let e = check_at_most("--refuse", 101u32, 100);
        assert_eq!(
            e.map_err(|e| e.to_string()),
            Err("--refuse must be at most 100".to_owned())
        );
        assert_eq!(check_between("--samples", 50u32, 1, 50), Ok(()));
        let week = Bound::Time(Duration::from_secs(7 * 86_400));
        assert_eq!(week.to_string(), "7d");
        assert_eq!(Bound::Time(Duration::from_secs(3600)).to_string(), "1h");
        assert_eq!(Bound::Time(Duration::from_millis(100)).to_string(), "100ms");
        assert_eq!(
            ConfigError::AboveZero {
                setting: "--app-ping"
            }
            .to_string(),
            "--app-ping must be more than 0"
        );
    }
}
