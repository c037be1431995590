"""xraysep: separate mixed X-rays of double-sided paintings."""
