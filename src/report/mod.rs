//! The HTML report of the tour. (issue 4)
