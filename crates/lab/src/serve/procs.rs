//! `serve --procs N`: N processes share one listening port (SO_REUSEPORT),
//! which only works when the port is fixed.

use wsdoctor_evidence::ConfigError;

use super::ServeConfig;

impl ServeConfig {
    /// Checks that `procs` processes can share `port`: with more than one,
    /// port 0 would give each process a port of its own.
    pub fn check_procs(procs: usize, port: u16) -> Result<(), ConfigError> {
        if procs > 1 && port == 0 {
            return Err(ConfigError::Rule {
                setting: "--procs",
                rule: "needs a fixed port in --listen (port 0 would give each process its own)",
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn several_processes_need_a_fixed_port() {
        assert_eq!(ServeConfig::check_procs(1, 0), Ok(()));
        assert_eq!(ServeConfig::check_procs(4, 9001), Ok(()));
        assert_eq!(
            ServeConfig::check_procs(4, 0).map_err(|e| e.to_string()),
            Err(
                "--procs needs a fixed port in --listen (port 0 would give each process its own)"
                    .to_owned()
            )
        );
    }
}
