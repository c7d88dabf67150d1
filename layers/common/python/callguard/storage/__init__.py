"""DynamoDB, S3 and SQS stores. Nothing outside this package speaks DynamoDB's wire format."""
