//! Empty: this package only holds the framers' property tests (`tests/framers`).
