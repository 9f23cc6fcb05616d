//! The website in a real headless Chromium: pages are clicked and typed into as a person would.

mod access;
mod journey;
mod public;
mod staff;
