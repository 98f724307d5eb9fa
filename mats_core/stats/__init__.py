"""Bootstrap confidence intervals and paired differences over samples."""
