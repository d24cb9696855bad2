//! The live terminal view: the alternate screen redrawn each round and each tick, so the
//! countdowns move between polls. The terminal is restored when the renderer is dropped,
//! on every exit path (Ctrl-C is caught by the caller and ends the loop normally), and
//! the final table is printed on the normal screen so it stays in the scrollback.

use std::io::{self, Write};
use std::time::Instant;

use crossterm::style::{Attribute, Color, ResetColor, SetAttribute, SetForegroundColor};
use crossterm::{cursor, execute, queue, terminal};

use super::{Renderer, delay_lines, header_lines, table_lines};
use crate::watch::model::{Model, State, View};

#[derive(Clone, Copy)]
enum Style {
    Plain,
    Bold,
    Color(Color),
}

fn style(state: &State) -> Style {
    match state {
        State::Pending => Style::Plain,
        State::Current => Style::Color(Color::Green),
        State::Behind | State::StaleCache => Style::Color(Color::Yellow),
        State::NotAuthoritative | State::Error(_) | State::Unreachable(_) => {
            Style::Color(Color::Red)
        }
    }
}

pub struct LiveRenderer {
    out: io::Stdout,
    title: String,
    /// The delay table, kept on screen once convergence happened.
    delays: Option<Vec<String>>,
    /// Lines shown under the table (`zonecast up` puts its dig lines there).
    footer: Vec<String>,
    active: bool,
}

impl LiveRenderer {
    pub fn new(title: String) -> io::Result<Self> {
        let mut out = io::stdout();
        execute!(out, terminal::EnterAlternateScreen, cursor::Hide)?;
        Ok(LiveRenderer {
            out,
            title,
            delays: None,
            footer: Vec::new(),
            active: true,
        })
    }

    pub fn with_footer(mut self, footer: Vec<String>) -> Self {
        self.footer = footer;
        self
    }

    fn draw(&mut self, view: &View) -> io::Result<()> {
        let (width, height) = terminal::size().unwrap_or((120, 40));
        let answer_width = usize::from(width).saturating_sub(100).clamp(16, 60);
        queue!(
            self.out,
            cursor::MoveTo(0, 0),
            terminal::Clear(terminal::ClearType::All)
        )?;
        // Each line with its style: bold for the header, a color per server state.
        let mut lines: Vec<(String, Style)> = header_lines(&self.title, view)
            .into_iter()
            .map(|l| (l, Style::Bold))
            .collect();
        lines.push((String::new(), Style::Plain));
        let table = table_lines(view, answer_width);
        let styles = std::iter::once(Style::Plain).chain(view.rows.iter().map(|r| style(&r.state)));
        lines.extend(table.into_iter().zip(styles));
        if let Some(delays) = &self.delays {
            lines.push((String::new(), Style::Plain));
            lines.extend(delays.iter().cloned().map(|l| (l, Style::Plain)));
        }
        lines.push((String::new(), Style::Plain));
        lines.extend(self.footer.iter().cloned().map(|l| (l, Style::Plain)));
        lines.push(("Ctrl-C to quit".to_string(), Style::Plain));
        for (i, (line, style)) in lines.iter().take(usize::from(height)).enumerate() {
            let clipped: String = line.chars().take(usize::from(width)).collect();
            let row = u16::try_from(i).unwrap_or(u16::MAX);
            queue!(self.out, cursor::MoveTo(0, row))?;
            match style {
                Style::Plain => {}
                Style::Bold => queue!(self.out, SetAttribute(Attribute::Bold))?,
                Style::Color(c) => queue!(self.out, SetForegroundColor(*c))?,
            }
            write!(self.out, "{clipped}")?;
            queue!(self.out, SetAttribute(Attribute::Reset), ResetColor)?;
        }
        self.out.flush()
    }

    fn restore(&mut self) -> io::Result<()> {
        if self.active {
            self.active = false;
            execute!(self.out, cursor::Show, terminal::LeaveAlternateScreen)?;
        }
        Ok(())
    }
}

impl Renderer for LiveRenderer {
    fn round(&mut self, view: &View, _now: Instant) -> io::Result<()> {
        self.draw(view)
    }

    fn tick(&mut self, view: &View, _now: Instant) -> io::Result<()> {
        self.draw(view)
    }

    fn converged(&mut self, view: &View, model: &Model, _now: Instant) -> io::Result<()> {
        if model.change_seen() {
            self.delays = Some(delay_lines(model));
        }
        self.draw(view)
    }

    fn finish(&mut self, view: &View, model: &Model, _now: Instant) -> io::Result<()> {
        self.restore()?;
        let mut out = io::stdout().lock();
        for line in header_lines(&self.title, view)
            .iter()
            .chain(table_lines(view, 60).iter())
        {
            writeln!(out, "{line}")?;
        }
        if view.converged && model.change_seen() {
            for line in delay_lines(model) {
                writeln!(out, "{line}")?;
            }
        }
        out.flush()
    }
}

impl Drop for LiveRenderer {
    fn drop(&mut self) {
        let _ = self.restore();
    }
}
