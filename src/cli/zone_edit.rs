//! `zonecast zone set|del|edit`: editing a zone's file from the command line, with the
//! same guarantees as the library editor (validated before writing, atomic replace,
//! serial bumped per policy) so a running primary that watches the file picks it up.

use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use std::time::SystemTime;

use hickory_proto::rr::{LowerName, Name, RData, RecordType};

use super::check::parse_origin;
use crate::config::NodeConfig;
use crate::serial::SerialPolicy;
use crate::zone::Zone;
use crate::zone::file_edit::{
    EditError, PlannedEdit, SerialMode, ZoneEditor, atomic_write, content_differs, edit_serial,
};
use crate::zone::load::{LoadErrors, lex, load_zone_file, load_zone_file_overlay};
use crate::zone::load::{parse_name, parse_rdata, parse_ttl, parse_type};

/// Which zone, and where its file is.
#[derive(Debug, Clone, clap::Args)]
pub struct ZoneFileArgs {
    /// The zone's name (its origin), e.g. `example.test`.
    pub zone: String,
    /// The zone file; by default it is found through --config, else `zones/ZONE.zone`.
    #[arg(long)]
    pub file: Option<PathBuf>,
    /// A node configuration whose `[[zone]]` entries name the zone's file.
    #[arg(long)]
    pub config: Option<PathBuf>,
    /// How the SOA serial moves: increment, unixtime, dateserial, or keep (the edit
    /// must raise it itself).
    #[arg(long, default_value = "increment")]
    pub serial_policy: SerialPolicy,
}

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  zonecast zone set example.test www A 192.0.2.11
  zonecast zone set example.test www A 60 192.0.2.11     (TTL 60)
  zonecast zone set --add example.test www A 192.0.2.12  (a second record)
  zonecast zone set example.test @ TXT '\"v=spf1 -all\"'

The file is validated (as `zonecast check` does) before it is written, the SOA serial is
increased, and the file is replaced atomically, so a running primary reloads it once.")]
pub struct ZoneSetArgs {
    #[command(flatten)]
    pub target: ZoneFileArgs,
    /// The owner name, relative to the zone unless it ends with a dot (`@` is the apex).
    pub name: String,
    /// The record type.
    #[arg(value_name = "TYPE")]
    pub rtype: String,
    /// `[TTL] RDATA…` in zone-file syntax (quote character-strings with spaces as in a
    /// zone file: '"hello world"'). A leading number is taken as the TTL when the rest
    /// still parses as RDATA; use --ttl when that is ambiguous.
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub rdata: Vec<String>,
    /// The TTL; by default the RRset keeps its TTL, and a new one gets the file's $TTL.
    #[arg(long)]
    pub ttl: Option<String>,
    /// Add the record to the RRset instead of replacing the RRset.
    #[arg(long)]
    pub add: bool,
}

#[derive(Debug, Clone, clap::Args)]
#[command(after_help = "Examples:
  zonecast zone del example.test www                 (every record at www)
  zonecast zone del example.test www AAAA            (one RRset)
  zonecast zone del example.test www A 192.0.2.12    (one record)")]
pub struct ZoneDelArgs {
    #[command(flatten)]
    pub target: ZoneFileArgs,
    /// The owner name, relative to the zone unless it ends with a dot (`@` is the apex).
    pub name: String,
    /// Only this type (every type at NAME when omitted).
    #[arg(value_name = "TYPE")]
    pub rtype: Option<String>,
    /// Only the record with this RDATA (the whole RRset when omitted).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub rdata: Vec<String>,
}

#[derive(Debug, Clone, clap::Args)]
#[command(
    after_help = "Like `crontab -e`: the editor works on a private copy; when the result does not load,
the errors are shown and you are asked to edit again. If you change records but not the
serial, the serial is increased for you. $INCLUDEd files are not opened."
)]
pub struct ZoneEditArgs {
    #[command(flatten)]
    pub target: ZoneFileArgs,
}

/// The zone's name and file.
fn target(args: &ZoneFileArgs) -> Result<(Name, PathBuf)> {
    let origin = parse_origin(&args.zone)?;
    let file = locate_zone_file(&origin, args.file.as_deref(), args.config.as_deref())?;
    Ok((origin, file))
}

/// Where a zone's file is: `--file`, else the `[[zone]]` of `--config` (its `file` is
/// relative to the config's directory), else `zones/ZONE.zone` (`zones/root.zone` for
/// the root), the layout of the shipped zones. `zonecast up`'s topology will plug in here.
pub fn locate_zone_file(
    zone: &Name,
    file: Option<&Path>,
    config: Option<&Path>,
) -> Result<PathBuf> {
    if let Some(f) = file {
        return Ok(f.to_path_buf());
    }
    if let Some(cfg) = config {
        let node = NodeConfig::load(cfg)?;
        return match node.zones.into_iter().find(|z| z.name == *zone) {
            Some(z) => Ok(z.file),
            None => bail!("{}: no [[zone]] named {zone}", cfg.display()),
        };
    }
    let label = zone.to_string();
    let stem = label
        .strip_suffix('.')
        .filter(|s| !s.is_empty())
        .unwrap_or("root");
    let path = PathBuf::from("zones").join(format!("{stem}.zone"));
    if !path.exists() {
        bail!(
            "no zone file at {} for {zone}; give --file or --config",
            path.display()
        );
    }
    Ok(path)
}

fn parse_owner(raw: &str, origin: &Name) -> Result<Name> {
    let name = parse_name(raw, origin).map_err(|m| anyhow::anyhow!("bad name `{raw}`: {m}"))?;
    if !origin.zone_of(&name) {
        bail!("{name} is not in zone {origin}");
    }
    Ok(name)
}

fn parse_rtype(raw: &str) -> Result<RecordType> {
    parse_type(raw).with_context(|| format!("unknown record type `{raw}`"))
}

fn rdata_from(rtype: RecordType, words: &[String], origin: &Name) -> Result<RData, String> {
    let text = words.join(" ");
    let (entries, errors) = lex(&text);
    if let Some(e) = errors.first() {
        return Err(format!("{} (near `{}`)", e.message, e.text));
    }
    let tokens = entries
        .into_iter()
        .next()
        .map(|e| e.tokens)
        .unwrap_or_default();
    parse_rdata(rtype, &tokens, origin).map_err(|e| match tokens.get(e.index) {
        Some(t) => format!("{} (near `{}`)", e.message, t.written()),
        None => e.message,
    })
}

/// `[TTL] RDATA…`: see `ZoneSetArgs::rdata`.
fn ttl_and_rdata(
    args: &ZoneSetArgs,
    rtype: RecordType,
    origin: &Name,
) -> Result<(Option<u32>, RData)> {
    if let Some(t) = &args.ttl {
        let ttl = parse_ttl(t).with_context(|| format!("bad TTL `{t}`"))?;
        let rd = rdata_from(rtype, &args.rdata, origin).map_err(anyhow::Error::msg)?;
        return Ok((Some(ttl), rd));
    }
    if let Some((first, rest)) = args.rdata.split_first()
        && let Some(ttl) = parse_ttl(first)
        && let Ok(rd) = rdata_from(rtype, rest, origin)
    {
        return Ok((Some(ttl), rd));
    }
    let rd = rdata_from(rtype, &args.rdata, origin).map_err(anyhow::Error::msg)?;
    Ok((None, rd))
}

/// Prints the outcome of a planned edit and writes it; returns the exit code.
fn finish(planned: Result<PlannedEdit, EditError>, origin: &Name, file: &Path) -> Result<i32> {
    let planned = match planned {
        Ok(p) => p,
        Err(EditError::Invalid(errs)) => {
            eprintln!(
                "zonecast: the edit would make the zone invalid (positions are in the edited text):"
            );
            print_errors(&errs);
            eprintln!("zone {origin}: nothing written to {}", file.display());
            return Ok(1);
        }
        Err(EditError::CurrentInvalid(errs)) => {
            eprintln!("zonecast: the zone does not load as it is; fix it first:");
            print_errors(&errs);
            eprintln!("zone {origin}: nothing written to {}", file.display());
            return Ok(1);
        }
        Err(e @ EditError::NothingMatched(_)) => {
            eprintln!("{e}");
            return Ok(1);
        }
        Err(e) => return Err(e.into()),
    };
    if !planned.changed() {
        println!(
            "zone {origin}: already as asked; {} unchanged",
            file.display()
        );
        return Ok(0);
    }
    planned.commit()?;
    let files: Vec<String> = planned
        .writes
        .iter()
        .map(|w| w.path.display().to_string())
        .collect();
    println!(
        "zone {origin}: serial {} -> {}, wrote {}",
        planned.old_serial,
        planned.new_serial,
        files.join(", ")
    );
    Ok(0)
}

fn print_errors(errs: &LoadErrors) {
    for d in errs.errors.iter().chain(&errs.warnings) {
        eprintln!("{d}");
    }
}

pub fn run_set(args: &ZoneSetArgs) -> Result<i32> {
    let (origin, file) = target(&args.target)?;
    let name = parse_owner(&args.name, &origin)?;
    let rtype = parse_rtype(&args.rtype)?;
    let (ttl, rdata) = ttl_and_rdata(args, rtype, &origin)?;
    let editor = match ZoneEditor::open(&file, &origin) {
        Ok(e) => e.with_serial_policy(args.target.serial_policy, SystemTime::now()),
        Err(e) => return finish(Err(e), &origin, &file),
    };
    let mut all = Vec::new();
    if args.add
        && let Some(set) = editor
            .zone()
            .node(&LowerName::new(&name))
            .and_then(|n| n.get(rtype))
    {
        all.extend(set.rdata.iter().cloned());
    }
    all.push(rdata);
    finish(editor.set(&name, rtype, ttl, all), &origin, &file)
}

pub fn run_del(args: &ZoneDelArgs) -> Result<i32> {
    let (origin, file) = target(&args.target)?;
    let name = parse_owner(&args.name, &origin)?;
    let rtype = args.rtype.as_deref().map(parse_rtype).transpose()?;
    let rdata = match (rtype, args.rdata.is_empty()) {
        (Some(t), false) => vec![rdata_from(t, &args.rdata, &origin).map_err(anyhow::Error::msg)?],
        _ => Vec::new(),
    };
    let editor = match ZoneEditor::open(&file, &origin) {
        Ok(e) => e.with_serial_policy(args.target.serial_policy, SystemTime::now()),
        Err(e) => return finish(Err(e), &origin, &file),
    };
    finish(editor.delete(&name, rtype, &rdata), &origin, &file)
}

pub fn run_edit(args: &ZoneEditArgs) -> Result<i32> {
    let (origin, file) = target(&args.target)?;
    let editor = std::env::var("VISUAL")
        .ok()
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("EDITOR").ok().filter(|s| !s.is_empty()))
        .unwrap_or_else(|| "vi".into());
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut out = std::io::stderr();
    let tmp = std::env::temp_dir();
    let policy = args.target.serial_policy;
    edit_interactively(&file, &origin, &editor, policy, &tmp, &mut input, &mut out)
}

/// `crontab -e` for a zone: edit a copy, validate, ask again on errors, write atomically,
/// bump the serial when the content changed but the serial did not. Only the main file
/// is edited; `$INCLUDE`d files are read from disk for validation.
pub fn edit_interactively(
    file: &Path,
    origin: &Name,
    editor: &str,
    policy: SerialPolicy,
    tmp_root: &Path,
    input: &mut dyn BufRead,
    out: &mut dyn Write,
) -> Result<i32> {
    let original =
        std::fs::read_to_string(file).with_context(|| format!("reading {}", file.display()))?;
    let old_zone: Option<Zone> = load_zone_file(file, origin).ok().map(|l| l.zone);
    let canon =
        std::fs::canonicalize(file).with_context(|| format!("resolving {}", file.display()))?;
    let base = file
        .file_name()
        .map_or_else(|| "zone".into(), |f| f.to_string_lossy().into_owned());
    let dir = EditDir::create(tmp_root)?;
    let copy = dir.path.join(&base);
    std::fs::write(&copy, &original)?;
    loop {
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{editor} \"$@\""))
            .arg("sh")
            .arg(&copy)
            .status()
            .with_context(|| format!("running the editor `{editor}`"))?;
        if !status.success() {
            writeln!(
                out,
                "zonecast: the editor exited with {status}; nothing written"
            )?;
            return Ok(1);
        }
        let text = std::fs::read_to_string(&copy)?;
        if text == original {
            writeln!(out, "zonecast: no changes made to {}", file.display())?;
            return Ok(0);
        }
        let overlay = HashMap::from([(canon.clone(), text.clone())]);
        let loaded = load_zone_file_overlay(file, origin, overlay.clone());
        let bumped = loaded.as_ref().ok().map(|l| {
            serial_bumped(
                file,
                origin,
                &text,
                old_zone.as_ref(),
                &l.zone,
                overlay,
                policy,
            )
        });
        let problems: Vec<String> = match (loaded, bumped) {
            (Ok(_), Some(Ok(text))) => {
                let now = std::fs::read_to_string(file)?;
                if now != original {
                    let kept = dir.keep().join(&base);
                    writeln!(
                        out,
                        "zonecast: {} changed on disk while you edited; nothing written, your version is in {}",
                        file.display(),
                        kept.display()
                    )?;
                    return Ok(1);
                }
                atomic_write(file, &text)?;
                writeln!(out, "zonecast: wrote {}", file.display())?;
                return Ok(0);
            }
            (Ok(_), bumped) => match bumped {
                Some(Err(e)) => vec![format!("zonecast: {e:#}")],
                _ => Vec::new(),
            },
            (Err(errs), _) => errs
                .errors
                .iter()
                .chain(&errs.warnings)
                .map(ToString::to_string)
                .collect(),
        };
        for p in problems {
            writeln!(out, "{p}")?;
        }
        if !ask_again(input, out)? {
            let kept = dir.keep().join(&base);
            writeln!(
                out,
                "zonecast: nothing written; your edits are in {}",
                kept.display()
            )?;
            return Ok(1);
        }
    }
}

/// crontab's question; anything but `y` is no.
fn ask_again(input: &mut dyn BufRead, out: &mut dyn Write) -> Result<bool> {
    write!(out, "errors in zone file, edit again? (y/n) ")?;
    out.flush()?;
    let mut answer = String::new();
    input.read_line(&mut answer)?;
    Ok(answer.trim().eq_ignore_ascii_case("y"))
}

/// A private directory for the copy being edited, removed unless kept for the user.
struct EditDir {
    path: PathBuf,
    keep: bool,
}

impl EditDir {
    fn create(base: &Path) -> Result<EditDir> {
        for attempt in 0..100u32 {
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos());
            let path = base.join(format!(
                "zonecast-edit-{}-{nanos}-{attempt}",
                std::process::id()
            ));
            match std::fs::create_dir(&path) {
                Ok(()) => return Ok(EditDir { path, keep: false }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e).with_context(|| format!("creating {}", path.display())),
            }
        }
        bail!("cannot create a directory in {}", base.display())
    }

    fn keep(mut self) -> PathBuf {
        self.keep = true;
        self.path.clone()
    }
}

impl Drop for EditDir {
    fn drop(&mut self) {
        if !self.keep {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// The edited text, with its serial moved forward when the zone's content changed but
/// its serial did not (per policy); otherwise as the user wrote it.
fn serial_bumped(
    file: &Path,
    origin: &Name,
    text: &str,
    old: Option<&Zone>,
    new: &Zone,
    overlay: HashMap<PathBuf, String>,
    policy: SerialPolicy,
) -> Result<String> {
    let Some(old) = old else {
        return Ok(text.to_string());
    };
    if !content_differs(old, new) {
        return Ok(text.to_string());
    }
    let serial = edit_serial(policy, old.serial(), new.serial(), SystemTime::now())?;
    if serial == new.serial() {
        return Ok(text.to_string());
    }
    let editor = ZoneEditor::open_overlay(file, origin, overlay)?;
    let planned = editor.plan(&[], SerialMode::Exact(serial))?;
    let main = planned
        .writes
        .iter()
        .find(|w| w.path == file)
        .map(|w| w.text.clone());
    Ok(main.unwrap_or_else(|| text.to_string()))
}

#[cfg(test)]
#[path = "zone_edit_tests.rs"]
mod tests;
