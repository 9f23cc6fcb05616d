//! The website in a real headless Chromium: pages are clicked and typed into as a person would.

mod public;
mod staff;
