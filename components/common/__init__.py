"""What several components share: errors, file I/O, atomic publish, configs, logging."""
