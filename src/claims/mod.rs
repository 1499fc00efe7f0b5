//! The seed document's claims as experiments. (issue 4)
