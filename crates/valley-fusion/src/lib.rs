//! Model fusion: interpolation, sign-same ratios, the soups study, merging (paper §4).
