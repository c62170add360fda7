import OperatorCLI

// The operator CLI; every command lives in the OperatorCLI library.
@main extension AnalyticsCommand {}
