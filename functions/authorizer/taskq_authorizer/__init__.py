"""The authorizer function: API Gateway's REQUEST authorizer for every /v1 route."""
