//! A rolling update drawn over time, for people who watch one: which version answered each
//! request, how many pods of each version were ready and live, when each step happened and
//! when a failure signal fired.
//!
//! [`Timeline`] is plain data (serde), filled by whoever observed the update: the end-to-end
//! tests (their traffic probe and pod monitor) or the CLI (`--timeline`, from the engine's
//! events and `--probe`). [`render`] turns it into a [`Picture`]: the SVG and the box of
//! every text in it, so that [`Picture::problems`] can prove that no two labels overlap
//! and none is cut.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod layout;
mod model;
mod render;

pub use layout::TextBox;
pub use model::{Answer, Mark, MarkKind, Outcome, PodCount, PodSnapshot, Timeline, step_label};
pub use render::{Picture, render};
