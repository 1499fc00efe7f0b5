//! Training: losses, optimizers, schedules, the loop, observers, sweeps. (issue 3)
