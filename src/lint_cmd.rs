//! `wsdoctor lint` (being built; hidden from --help until it works).

use clap::Args;

/// Arguments of `wsdoctor lint`.
#[derive(Debug, Args)]
pub(crate) struct LintArgs {
    /// Anything, for now.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub(crate) rest: Vec<String>,
}

pub(crate) async fn run(_args: LintArgs) -> anyhow::Result<u8> {
    anyhow::bail!("`wsdoctor lint` is not built yet")
}
