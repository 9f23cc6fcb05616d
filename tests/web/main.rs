//! The website in a real headless Chromium: pages are clicked and typed into as a person would.

mod access;
mod agents;
mod borrowers;
mod cabinet;
mod journey;
mod office;
mod public;
mod social;
mod staff;
