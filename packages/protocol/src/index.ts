export const marker = "src";
