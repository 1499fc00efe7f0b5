//! Activation health: sparsity, dead and dormant units, pre-activation statistics, gradient flow. (issue 4)
