import OperatorCLI

await AnalyticsCommand.main()
