//! Verification: VNN-LIB, bounds (IBP, CROWN, alpha-CROWN), branch and bound. (issue 7)
