"""Step Functions workflows, built in CDK from fragments (never raw JSON)."""
