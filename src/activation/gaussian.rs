//! Gaussian statistics of activations: E[f(X)], E[f(X)^2], E[f'(X)], P(f'(X) != 0) for X ~ N(mu, sigma^2). (issue 2)
