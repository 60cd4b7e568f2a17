//! `dird man` (hidden): the manual page of the whole command line, as roff, on stdout; the
//! Debian package's dird.8 is made from it.

use std::io::Write as _;
use std::process::ExitCode;

use clap::CommandFactory;

use super::{Cli, Failure};

/// The page could not be made or written.
#[derive(Debug, thiserror::Error)]
#[error(transparent)]
pub struct ManError(#[from] std::io::Error);

impl Failure for ManError {
    fn bad_input(&self) -> bool {
        false
    }
}

/// `dird man`: [`man_page`] on stdout.
pub fn exec() -> Result<ExitCode, ManError> {
    let page = man_page()?;
    std::io::stdout().lock().write_all(page.as_bytes())?;
    Ok(ExitCode::SUCCESS)
}

/// One page in section 8: the daemon's synopsis and flags, then under SUBCOMMANDS each visible
/// subcommand's description, synopsis and flags, then the help's epilogue as NOTES.
pub fn man_page() -> std::io::Result<String> {
    use clap_mangen::Man;
    // clap_mangen starts every rendered piece with this definition of \*(Aq; it is kept once.
    const AQ: &str = ".ie \\n(.g .ds Aq \\(aq\n.el .ds Aq '\n";
    /// What `render` writes, less the \*(Aq definition and the `.SH` heading.
    fn body(render: impl FnOnce(&mut Vec<u8>) -> std::io::Result<()>) -> std::io::Result<String> {
        let mut out = Vec::new();
        render(&mut out)?;
        let text = String::from_utf8_lossy(&out).replace(AQ, "");
        Ok(text
            .lines()
            .filter(|l| !l.starts_with(".SH "))
            .map(|l| format!("{l}\n"))
            .collect())
    }

    let mut cmd = Cli::command().disable_help_subcommand(true);
    // The about text starts with the program's name, which the NAME line already gives.
    if let Some(about) = cmd.get_about().map(|a| a.to_string()) {
        cmd = cmd.about(about.trim_start_matches("dird: ").to_owned());
    }
    cmd.build();
    let man = Man::new(cmd.clone())
        .section("8")
        .manual("System Administration Commands");
    let mut page = String::from(AQ);
    page += &body(|o| man.render_title(o))?;
    for (name, render) in [
        (
            "NAME",
            Man::render_name_section as fn(&Man, &mut dyn std::io::Write) -> _,
        ),
        ("SYNOPSIS", Man::render_synopsis_section),
        ("DESCRIPTION", Man::render_description_section),
        ("OPTIONS", Man::render_options_section),
    ] {
        page += &format!(".SH {name}\n");
        page += &body(|o| render(&man, o))?;
    }
    page += ".SH SUBCOMMANDS\n";
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        let sub_man = Man::new(sub.clone());
        page += &format!(".SS \"dird {}\"\n", sub.get_name());
        page += &body(|o| sub_man.render_description_section(o))?;
        page += ".PP\n";
        page += &body(|o| sub_man.render_synopsis_section(o))?;
        page += &body(|o| sub_man.render_options_section(o))?;
    }
    page += ".SH NOTES\n";
    // The epilogue's blank line separates paragraphs, which roff spells .PP.
    for line in body(|o| man.render_extra_section(o))?.lines() {
        page += if line.is_empty() { ".PP" } else { line };
        page += "\n";
    }
    page += ".SH VERSION\n";
    page += &body(|o| man.render_version_section(o))?;
    // Characters beyond ASCII (the help's dashes) as groff escapes, readable without preconv.
    Ok(page
        .chars()
        .map(|c| match c.is_ascii() {
            true => c.to_string(),
            false => format!("\\[u{:04X}]", u32::from(c)),
        })
        .collect())
}

#[cfg(test)]
#[path = "man_tests.rs"]
mod tests;
