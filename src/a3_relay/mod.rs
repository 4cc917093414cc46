//! Placeholder: this assignment is not implemented yet.
