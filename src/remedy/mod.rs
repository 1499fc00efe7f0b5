//! Remedies for dying units: activation swap, bias warm-up, ReDo recycling, RAI. (issue 4)
