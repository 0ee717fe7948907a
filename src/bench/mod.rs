//! The load generator of `mqtk bench`: scenario, stats, report and rendering.
