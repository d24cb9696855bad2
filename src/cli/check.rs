//! `zonecast check`: the counterpart of named-checkzone.

use std::path::Path;
use std::str::FromStr;

use anyhow::{Context, Result, bail};
use hickory_proto::rr::Name;

use super::CheckArgs;
use crate::zone::load::load_zone_file;
use crate::zone::print::print_zone;

/// The origin a zone file implies by its name: `example.test.zone` -> `example.test.`,
/// `root.zone` -> `.`.
pub fn origin_from_path(path: &Path) -> Result<Name> {
    let file = path
        .file_name()
        .and_then(|f| f.to_str())
        .context("the file name is not text; give --origin")?;
    let stem = file
        .strip_suffix(".zone")
        .or_else(|| file.strip_suffix(".db"))
        .unwrap_or(file);
    if stem == "root" || stem == "." || stem.is_empty() {
        return Ok(Name::root());
    }
    parse_origin(stem)
}

pub fn parse_origin(s: &str) -> Result<Name> {
    let mut name = Name::from_str(s).with_context(|| format!("bad origin `{s}`"))?;
    name.set_fqdn(true);
    Ok(name)
}

/// Runs the check; returns the process exit code.
pub fn run(args: &CheckArgs) -> Result<i32> {
    let origin = match &args.origin {
        Some(o) => parse_origin(o)?,
        None => origin_from_path(&args.file)?,
    };
    let zone_label = origin.to_string();
    let zone_label = zone_label
        .strip_suffix('.')
        .filter(|s| !s.is_empty())
        .unwrap_or(".");
    match load_zone_file(&args.file, &origin) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            let summary = format!(
                "zone {zone_label}/IN: loaded serial {} ({} records)",
                loaded.zone.serial(),
                loaded.zone.record_count()
            );
            // With --print, stdout carries only the zone so it can be piped or saved.
            if args.print {
                print!("{}", print_zone(&loaded.zone));
                eprintln!("{summary}");
            } else {
                println!("{summary}");
            }
            Ok(0)
        }
        Err(errs) => {
            for d in errs.errors.iter().chain(&errs.warnings) {
                eprintln!("{d}");
            }
            eprintln!(
                "zone {zone_label}/IN: not loaded due to {} error(s)",
                errs.errors.len()
            );
            if errs.errors.is_empty() {
                bail!("zone not loaded");
            }
            Ok(1)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origin_from_file_names() {
        let o = |p: &str| origin_from_path(Path::new(p)).unwrap().to_string();
        assert_eq!(o("zones/root.zone"), ".");
        assert_eq!(o("zones/example.test.zone"), "example.test.");
        assert_eq!(o("/x/test.db"), "test.");
        assert_eq!(o("example.org"), "example.org.");
    }
}
