//! `wsdoctor explain CODE`: what a close code or a finding id means, from
//! the embedded knowledge base.

use std::io::Write;

use anyhow::Context;

use crate::args::ExplainArgs;
use crate::output;

pub(crate) fn run(args: &ExplainArgs) -> anyhow::Result<u8> {
    let explanation = wsdoctor_diagnosis::explain(&args.code)?;
    let mut stdout = std::io::stdout().lock();
    if args.json {
        serde_json::to_writer_pretty(&mut stdout, &explanation)?;
        writeln!(stdout)?;
    } else {
        let style = output::style_for(args.color);
        stdout
            .write_all(wsdoctor_report::text::render_explanation(&explanation, style).as_bytes())
            .context("writing the explanation")?;
    }
    Ok(0)
}
