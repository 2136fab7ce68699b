"""EKS components under mocks."""
